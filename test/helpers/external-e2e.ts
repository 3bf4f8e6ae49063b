/**
 * End-to-end harness for external credentials: a listening gateway in front
 * of a real MCP upstream (the SDK fixture), groups that grant part of its
 * tools, and an official MCP SDK client that authenticates with whatever
 * bearer token a test hands it.
 */
import { type AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestUpstream, type TestUpstream } from '../fixtures/inspector-upstream.js';
import { startTestApp, type TestApp } from './app.js';

export interface ExternalE2e {
  t: TestApp;
  upstream: TestUpstream;
  /** http://127.0.0.1:PORT */
  base: string;
  /** An SDK client connected to /mcp/demo with `Authorization: Bearer <token>`. */
  connect(token: string): Promise<Client>;
  close(): Promise<void>;
}

/** Groups: `eng` may execute echo and add on `demo`; `readers` may list everything. */
export const E2E_GROUPS = [
  { name: 'eng', grants: [{ server: 'demo', tools: ['echo', 'add'], access_level: 'execute' }] },
  { name: 'readers', grants: [{ server: 'demo', tools: ['*'], access_level: 'read' }] },
];

export async function startExternalE2e(providers: unknown[], env: Record<string, string> = {}): Promise<ExternalE2e> {
  const upstream = await startTestUpstream();
  const t = await startTestApp({
    env,
    config: {
      auth: { providers },
      servers: [{ name: 'demo', url: upstream.url }],
      groups: E2E_GROUPS,
    },
  });
  await t.app.http.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(t.app.http.server.address() as AddressInfo).port}`;
  const clients: Client[] = [];
  return {
    t,
    upstream,
    base,
    async connect(token: string) {
      const client = new Client({ name: 'e2e', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/demo`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      });
      await client.connect(transport);
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) await c.close().catch(() => {});
      await t.close();
      await upstream.close();
    },
  };
}

/**
 * The checks every provider type must pass: an `eng` token lists exactly its
 * granted tools and calls one; a tool outside its grants is denied and never
 * forwarded; a `readers` token lists but cannot call; a bad token gets 401
 * and nothing reaches the upstream.
 */
export async function exerciseProvider(
  e: ExternalE2e,
  tokens: { eng: string; reader: string; bad: string },
  expect: typeof import('vitest').expect,
): Promise<void> {
  const eng = await e.connect(tokens.eng);
  const engTools = (await eng.listTools()).tools.map((x) => x.name).sort();
  expect(engTools).toEqual(['add', 'echo']);
  const echoed = await eng.callTool({ name: 'echo', arguments: { text: 'through the gate' } });
  expect(echoed.content).toEqual([{ type: 'text', text: 'through the gate' }]);
  const sum = await eng.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
  expect(sum.content).toEqual([{ type: 'text', text: '5' }]);

  const calls = () => e.upstream.requests.filter((r) => (r.body as { method?: string; params?: { name?: string } })?.params?.name === 'secret_admin');
  await expect(eng.callTool({ name: 'secret_admin', arguments: {} })).rejects.toMatchObject({ code: -32003 });
  expect(calls()).toEqual([]);

  const reader = await e.connect(tokens.reader);
  const readerTools = (await reader.listTools()).tools.map((x) => x.name).sort();
  expect(readerTools).toEqual(['add', 'echo', 'secret_admin', 'whoami']);
  const before = e.upstream.requests.length;
  await expect(reader.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32003 });
  expect(e.upstream.requests.length).toBe(before);

  const seen = e.upstream.requests.length;
  const r = await fetch(`${e.base}/mcp/demo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.bad}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(r.status).toBe(401);
  const challenge = r.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toMatch(/resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp\/demo"/);
  expect(challenge).toContain('error="invalid_token"');
  expect(e.upstream.requests.length).toBe(seen);

  // the client's credential is never forwarded upstream
  for (const req of e.upstream.requests) {
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.stringify(req.headers)).not.toContain(tokens.eng);
  }
}
