/**
 * A second real client: the MCP Inspector CLI (`@modelcontextprotocol/inspector
 * --cli`) → gateway (/mcp/demo, Streamable HTTP, API token in a header) → a
 * real SDK MCP server. Also end to end for per-user upstream credentials: a
 * user's stored header reaches the upstream on that user's calls only.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from '../helpers/app.js';
import { startTestUpstream, type TestUpstream } from '../fixtures/inspector-upstream.js';

let up: TestUpstream;
let t: TestApp;
let gatewayUrl: string;
const tokens: Record<'alice' | 'bob', { jwt: string; api: string }> = {} as never;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npx --no -- mcp-inspector --cli --header ... <args> --transport http <url>`.
 * Order matters for inspector 2.12: npx needs `--` or it takes `--cli` for
 * itself; options must precede the URL (anything after it counts as server
 * arguments); `--header`/`--tool-arg` are variadic, so an option must follow them.
 */
async function inspector(apiToken: string | null, args: string[]): Promise<Run> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k]!;
  const header = apiToken ? ['--header', `Authorization: Bearer ${apiToken}`] : [];
  const child = spawn('npx', ['--no', '--', 'mcp-inspector', '--cli', ...header, ...args, '--transport', 'http', `${gatewayUrl}/mcp/demo`], {
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const json = (r: Run) => {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`inspector output is not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
};

/** tools/call messages the upstream received for `tool`. */
const upstreamCalls = (tool: string) =>
  up.requests.filter((r) => {
    const b = r.body as { method?: string; params?: { name?: string } } | undefined;
    return b?.method === 'tools/call' && b.params?.name === tool;
  });

beforeAll(async () => {
  up = await startTestUpstream();
  t = await startTestApp({
    config: {
      credentials: { encryption_key: randomBytes(32).toString('hex') },
      servers: [{ name: 'demo', url: up.url, headers: { 'X-Upstream-Key': 'configured-key' } }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo', 'add', 'whoami'], access_level: 'execute' }] }],
    },
  });
  await t.app.http.listen({ host: '127.0.0.1', port: 0 });
  gatewayUrl = `http://127.0.0.1:${(t.app.http.server.address() as AddressInfo).port}`;
  const admin = await register(t, 'admin@example.com');
  for (const who of ['alice', 'bob'] as const) {
    const u = await register(t, `${who}@example.com`);
    const upd = await t.inject({ method: 'PUT', url: `/api/v1/users/${u.user.id}`, headers: bearer(admin.token), payload: { groups: ['eng'] } });
    expect(upd.statusCode, upd.body).toBe(200);
    const tok = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(u.token), payload: { name: 'inspector', scopes: ['mcp:execute'] } });
    expect(tok.statusCode, tok.body).toBe(201);
    tokens[who] = { jwt: u.token, api: tok.json().token };
  }
}, 60_000);

afterAll(async () => {
  await t?.close();
  await up?.close();
});

describe('e2e: MCP Inspector CLI → gateway → SDK server', () => {
  it('tools/list shows only the granted tools', async () => {
    const r = await inspector(tokens.alice.api, ['--method', 'tools/list']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).tools.map((x: { name: string }) => x.name).sort()).toEqual(['add', 'echo', 'whoami']);
    // the upstream saw the configured key, never the client's token
    const lists = up.requests.filter((q) => (q.body as { method?: string })?.method === 'tools/list');
    expect(lists.length).toBeGreaterThan(0);
    for (const q of up.requests) {
      expect(q.headers.authorization).toBeUndefined();
      expect(JSON.stringify(q.headers)).not.toContain(tokens.alice.api);
    }
    expect(lists.every((q) => q.headers['x-upstream-key'] === 'configured-key')).toBe(true);
  }, 90_000);

  it('tools/call of a granted tool returns the upstream result', async () => {
    const r = await inspector(tokens.alice.api, ['--method', 'tools/call', '--tool-name', 'add', '--tool-arg', 'a=2', 'b=40']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).content).toEqual([{ type: 'text', text: '42' }]);
  }, 90_000);

  it('tools/call of a tool outside the grants is refused and never reaches the upstream', async () => {
    const r = await inspector(tokens.alice.api, ['--method', 'tools/call', '--tool-name', 'secret_admin']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/secret_admin/);
    expect(r.stdout + r.stderr).not.toContain('admin secret');
    expect(upstreamCalls('secret_admin')).toEqual([]);
  }, 90_000);

  it('without a token the gateway answers 401 (the Inspector then wants OAuth) and nothing reaches the upstream', async () => {
    const before = up.requests.length;
    const r = await inspector(null, ['--stored-auth-only', '--method', 'tools/list']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/auth_required|401|unauthori[sz]ed/i);
    expect(up.requests.length).toBe(before);
  }, 90_000);

  it("a user's stored upstream credential reaches the upstream on that user's calls only", async () => {
    const put = await t.inject({
      method: 'PUT',
      url: '/api/v1/servers/demo/credentials',
      headers: bearer(tokens.alice.jwt),
      payload: { headers: { 'X-User-Token': 'alice-upstream-secret' } },
    });
    expect(put.statusCode, put.body).toBe(201);

    const alice = await inspector(tokens.alice.api, ['--method', 'tools/call', '--tool-name', 'whoami']);
    expect(alice.code, alice.stderr).toBe(0);
    expect(json(alice).content).toEqual([{ type: 'text', text: 'alice-upstream-secret' }]);

    const bob = await inspector(tokens.bob.api, ['--method', 'tools/call', '--tool-name', 'whoami']);
    expect(bob.code, bob.stderr).toBe(0);
    expect(json(bob).content).toEqual([{ type: 'text', text: '(none)' }]);

    // Deleting it applies to the very next call (the proxy's cache is invalidated).
    const del = await t.inject({ method: 'DELETE', url: '/api/v1/servers/demo/credentials', headers: bearer(tokens.alice.jwt) });
    expect(del.statusCode).toBe(204);
    const after = await inspector(tokens.alice.api, ['--method', 'tools/call', '--tool-name', 'whoami']);
    expect(json(after).content).toEqual([{ type: 'text', text: '(none)' }]);
    expect(t.logs.join('')).not.toContain('alice-upstream-secret');
  }, 180_000);
});
