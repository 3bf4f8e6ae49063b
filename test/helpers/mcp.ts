/**
 * Helpers for MCP proxy tests: a gateway listening on a real port, users with
 * chosen roles/groups, API tokens, and the official SDK client.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Role } from '../../src/config/schema.js';
import { newApiToken } from '../../src/auth/api-token-format.js';
import { uuid } from '../../src/lib/crypto.js';
import { startTestApp, type TestApp } from './app.js';
import { type Backend } from './db.js';

export interface McpGateway {
  t: TestApp;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

export async function startMcpGateway(config: Record<string, unknown>, opts: { env?: Record<string, string>; backend?: Backend } = {}): Promise<McpGateway> {
  const t = await startTestApp({ config, env: opts.env, backend: opts.backend });
  const url = await t.app.http.listen({ host: '127.0.0.1', port: 0 });
  return { t, url, close: () => t.close() };
}

let n = 0;
/** A user with the given role and groups (created in the store). */
export async function makeUser(t: TestApp, opts: { role?: Role; groups?: string[]; email?: string } = {}): Promise<{ id: string; email: string }> {
  const email = opts.email ?? `u${++n}-${uuid().slice(0, 8)}@example.com`;
  const u = await t.store.users.create({ email, passwordHash: null, role: opts.role ?? 'user', groups: opts.groups ?? [] });
  return { id: u.id, email };
}

/** Change a user's role/groups the way the admin API does (store + bus invalidation). */
export async function setUser(t: TestApp, id: string, patch: { role?: Role; groups?: string[] }): Promise<void> {
  const r = await t.store.users.update(id, patch);
  if (typeof r === 'string') throw new Error(`update failed: ${r}`);
  t.app.services.bus.publish({ kind: 'user', id });
}

/** An API token for the user; returns the secret. */
export async function makeToken(t: TestApp, ownerId: string, opts: { scopes?: string[] | null; servers?: string[] | null } = {}): Promise<string> {
  const { token, hash, prefix } = newApiToken();
  await t.store.apiTokens.insert({
    id: uuid(),
    ownerId,
    ownerType: 'user',
    name: 'test',
    prefix,
    tokenHash: hash,
    scopes: opts.scopes ?? null,
    servers: opts.servers ?? null,
    expiresAt: null,
    rateLimitPerHour: null,
  });
  return token;
}

/** The official SDK client, connected through the gateway with an API token. */
export async function connectClient(
  url: string,
  token: string,
  opts: { capabilities?: Record<string, unknown>; via?: 'authorization' | 'x-api-key' } = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const headers = opts.via === 'x-api-key' ? { 'x-api-key': token } : { authorization: `Bearer ${token}` };
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'e2e-client', version: '1.0.0' }, { capabilities: (opts.capabilities ?? {}) as never });
  await client.connect(transport);
  return { client, transport };
}

/** Raw JSON-RPC POST to the gateway (for precise status/header assertions). */
export async function rpc(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

/** JSON-RPC messages carried by an SSE body. */
export function sseMessages(text: string): any[] {
  return text
    .split(/\n\n/)
    .map((block) => block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter(Boolean)
    .map((d) => JSON.parse(d));
}

/** Initialize a session by raw POST; returns the gateway's session id and protocol version. */
export async function rawInitialize(url: string, headers: Record<string, string>, protocolVersion = '2025-06-18'): Promise<string> {
  const r = await rpc(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }, headers);
  if (r.status !== 200) throw new Error(`initialize failed: ${r.status} ${r.text}`);
  const sid = r.headers.get('mcp-session-id');
  if (!sid) throw new Error('no session id');
  await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': protocolVersion });
  return sid;
}
