/**
 * /api/v1/servers: visibility by grants, admin CRUD of runtime servers,
 * read-only config servers, operator lifecycle and discovery, and the
 * per-user credentials endpoints — against a real SDK MCP upstream.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { startTestUpstream, type TestUpstream } from './fixtures/inspector-upstream.js';

let t: TestApp;
let up: TestUpstream;
const tokens: Record<'admin' | 'alice' | 'bob' | 'vic' | 'olga', string> = {} as never;
const ids: Record<string, string> = {};

const get = (url: string, who: keyof typeof tokens) => t.inject({ method: 'GET', url, headers: bearer(tokens[who]) });
const send = (method: 'POST' | 'PUT' | 'DELETE', url: string, who: keyof typeof tokens, payload?: unknown) =>
  t.inject({ method, url, headers: bearer(tokens[who]), ...(payload !== undefined ? { payload: payload as object } : {}) });

async function apiToken(who: keyof typeof tokens, body: Record<string, unknown>): Promise<string> {
  const r = await send('POST', '/api/v1/auth/tokens', who, body);
  expect(r.statusCode, r.body).toBe(201);
  return r.json().token;
}

beforeAll(async () => {
  up = await startTestUpstream();
  t = await startTestApp({
    config: {
      credentials: { encryption_key: randomBytes(32).toString('base64') },
      servers: [
        { name: 'demo', url: up.url, headers: { 'X-Upstream-Key': 'gateway-key' } },
        { name: 'files', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] },
      ],
      groups: [
        { name: 'eng', grants: [{ server: 'demo', tools: ['echo', 'add', 'whoami'], access_level: 'execute' }] },
        { name: 'readers', grants: [{ server: 'demo', tools: ['echo'], access_level: 'read' }] },
      ],
    },
  });
  const admin = await register(t, 'admin@example.com');
  tokens.admin = admin.token;
  ids.admin = admin.user.id;
  for (const [who, role, groups] of [
    ['alice', 'user', ['eng']],
    ['bob', 'user', []],
    ['vic', 'viewer', []],
    ['olga', 'operator', ['readers']],
  ] as const) {
    const r = await register(t, `${who}@example.com`);
    ids[who] = r.user.id;
    const u = await send('PUT', `/api/v1/users/${r.user.id}`, 'admin', { role, groups });
    expect(u.statusCode, u.body).toBe(200);
    tokens[who] = r.token;
  }
});

afterAll(async () => {
  await t?.close();
  await up?.close();
});

describe('GET /api/v1/servers', () => {
  it('a user sees only the servers a grant names; management roles see all', async () => {
    const names = async (who: keyof typeof tokens) => {
      const r = await get('/api/v1/servers', who);
      expect(r.statusCode, r.body).toBe(200);
      return (r.json().servers as { name: string }[]).map((s) => s.name);
    };
    expect(await names('alice')).toEqual(['demo']);
    expect(await names('bob')).toEqual([]);
    expect(await names('vic')).toEqual(['demo', 'files']);
    expect(await names('admin')).toEqual(['demo', 'files']);
  });

  it('includes status and endpoint; definitions (names of headers only) for management roles', async () => {
    const alice = (await get('/api/v1/servers/demo', 'alice')).json();
    expect(alice).toMatchObject({ name: 'demo', transport: 'streamable-http', source: 'config', endpoint: `${t.config.server.public_url}/mcp/demo` });
    expect(alice.status).toMatchObject({ state: expect.any(String), sessions: expect.any(Number) });
    expect(alice.url).toBeUndefined();

    const r = await get('/api/v1/servers', 'vic');
    expect(r.body).not.toContain('gateway-key');
    const demo = r.json().servers.find((s: { name: string }) => s.name === 'demo');
    expect(demo).toMatchObject({ url: up.url, headers: ['X-Upstream-Key'] });
    const files = r.json().servers.find((s: { name: string }) => s.name === 'files');
    expect(files).toMatchObject({ transport: 'stdio', command: process.execPath, status: { state: 'idle', processes: 0 } });
  });

  it('a server the caller may not see is 404 like an unknown one', async () => {
    for (const url of ['/api/v1/servers/files', '/api/v1/servers/nope', '/api/v1/servers/files/tools']) {
      const r = await get(url, 'alice');
      expect(r.statusCode, url).toBe(404);
      expect(r.json().code).toBe('unknown_server');
    }
    expect((await get('/api/v1/servers/demo', 'bob')).statusCode).toBe(404);
  });

  it('a token restricted to other servers sees none; a token without api:read is refused', async () => {
    const restricted = await apiToken('admin', { name: 'only-files', servers: ['files'] });
    const r = await t.inject({ method: 'GET', url: '/api/v1/servers', headers: bearer(restricted) });
    expect(r.json().servers.map((s: { name: string }) => s.name)).toEqual(['files']);
    const mcpOnly = await apiToken('alice', { name: 'mcp-only', scopes: ['mcp:execute'] });
    const r2 = await t.inject({ method: 'GET', url: '/api/v1/servers', headers: bearer(mcpOnly) });
    expect(r2.statusCode).toBe(403);
    expect(r2.json().code).toBe('insufficient_scope');
  });

  it('unauthenticated is 401', async () => {
    const r = await t.inject({ method: 'GET', url: '/api/v1/servers' });
    expect(r.statusCode).toBe(401);
  });
});

describe('GET /api/v1/servers/{name}/tools', () => {
  const toolNames = (r: { json(): { tools: { name: string }[] } }) => r.json().tools.map((x) => x.name).sort();

  it('lists the discovered tools the caller may see, with what the credential may do', async () => {
    const r = await get('/api/v1/servers/demo/tools', 'alice');
    expect(r.statusCode, r.body).toBe(200);
    expect(toolNames(r)).toEqual(['add', 'echo', 'whoami']);
    expect(r.json().tools.every((x: { access: string }) => x.access === 'execute')).toBe(true);
    expect(r.json().tools.find((x: { name: string }) => x.name === 'add').inputSchema).toMatchObject({ type: 'object' });

    const admin = await get('/api/v1/servers/demo/tools', 'admin');
    expect(toolNames(admin)).toEqual(['add', 'echo', 'secret_admin', 'whoami']);
  });

  it('token scopes narrow the access shown: mcp:read makes tools read-only', async () => {
    const ro = await apiToken('alice', { name: 'ro', scopes: ['mcp:read', 'api:read'] });
    const r = await t.inject({ method: 'GET', url: '/api/v1/servers/demo/tools', headers: bearer(ro) });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().tools.map((x: { access: string }) => x.access)).toEqual(['read', 'read', 'read']);
  });

  it('a read grant shows its tools as read; an operator sees the whole catalog', async () => {
    const r = await get('/api/v1/servers/demo/tools', 'olga');
    const byName = Object.fromEntries(r.json().tools.map((x: { name: string; access: string }) => [x.name, x.access]));
    expect(byName).toEqual({ add: 'none', echo: 'read', secret_admin: 'none', whoami: 'none' });
  });
});

describe('runtime servers (admin)', () => {
  it('create, read, update, delete; the registry follows at once', async () => {
    const c = await send('POST', '/api/v1/servers', 'admin', { name: 'extra', url: up.url, description: 'runtime one', timeout: '5s' });
    expect(c.statusCode, c.body).toBe(201);
    expect(c.json()).toMatchObject({ name: 'extra', source: 'api', transport: 'streamable-http', url: up.url, timeout_ms: 5000 });
    expect(t.app.services.registry.get('extra')).toBeDefined();

    const g = await get('/api/v1/servers/extra', 'vic');
    expect(g.json()).toMatchObject({ name: 'extra', source: 'api', description: 'runtime one' });
    const tools = await get('/api/v1/servers/extra/tools', 'admin');
    expect(tools.statusCode, tools.body).toBe(200);
    expect(tools.json().tools.length).toBe(4);

    const u = await send('PUT', '/api/v1/servers/extra', 'admin', { url: up.url, headers: { 'X-Extra': 'v' } });
    expect(u.statusCode, u.body).toBe(200);
    expect(u.json()).toMatchObject({ headers: ['X-Extra'], timeout_ms: 60000 });
    expect(u.body).not.toContain('"v"');

    const d = await send('DELETE', '/api/v1/servers/extra', 'admin');
    expect(d.statusCode).toBe(204);
    expect(t.app.services.registry.get('extra')).toBeUndefined();
    expect((await get('/api/v1/servers/extra', 'admin')).statusCode).toBe(404);
    expect((await send('DELETE', '/api/v1/servers/extra', 'admin')).statusCode).toBe(404);
    expect((await send('PUT', '/api/v1/servers/extra', 'admin', { url: up.url })).statusCode).toBe(404);

    await t.app.services.audit.flush();
    const events = await t.store.audit.query({ server: 'extra', limit: 10 });
    expect(events.map((e) => e.action).sort()).toEqual(['server.create', 'server.delete', 'server.update']);
    expect(events.every((e) => e.actor === ids.admin)).toBe(true);
  });

  it('config-file servers are read-only', async () => {
    for (const [method, url] of [
      ['PUT', '/api/v1/servers/demo'],
      ['DELETE', '/api/v1/servers/demo'],
    ] as const) {
      const r = await send(method, url, 'admin', method === 'PUT' ? { url: up.url } : undefined);
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('read_only');
    }
  });

  it('name conflicts are 409', async () => {
    const a = await send('POST', '/api/v1/servers', 'admin', { name: 'demo', url: up.url });
    expect(a.statusCode).toBe(409);
    expect(a.json().code).toBe('conflict');
    expect((await send('POST', '/api/v1/servers', 'admin', { name: 'dup', url: up.url })).statusCode).toBe(201);
    const b = await send('POST', '/api/v1/servers', 'admin', { name: 'dup', url: up.url });
    expect(b.statusCode).toBe(409);
    expect(b.json().code).toBe('conflict');
    expect((await send('DELETE', '/api/v1/servers/dup', 'admin')).statusCode).toBe(204);
  });

  it('invalid definitions are 422 naming the field; stdio servers cannot be defined at runtime', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x1', url: 'ftp://nope' }, 'url'],
      [{ name: 'Bad_Name', url: up.url }, 'name'],
      [{ name: 'x2', url: up.url, timeout: 'soon' }, 'timeout'],
      [{ name: 'x3', url: up.url, surprise: 1 }, 'surprise'],
      [{ name: 'x4', command: 'sh', args: ['-c', 'id'] }, 'command'],
    ];
    for (const [body, field] of cases) {
      const r = await send('POST', '/api/v1/servers', 'admin', body);
      expect(r.statusCode, JSON.stringify(body)).toBe(422);
      expect(r.json().code).toBe('validation_failed');
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await t.store.servers.list()).toEqual([]);
    const rename = await send('PUT', '/api/v1/servers/demo2', 'admin', { name: 'other', url: up.url });
    expect(rename.statusCode).toBe(422);
  });

  it('viewers, operators and users cannot write', async () => {
    for (const who of ['vic', 'olga', 'alice'] as const) {
      const r = await send('POST', '/api/v1/servers', who, { name: 'sneaky', url: up.url });
      expect(r.statusCode, who).toBe(403);
      expect(r.json().code).toBe('forbidden');
      expect((await send('DELETE', '/api/v1/servers/demo', who)).statusCode).toBe(403);
    }
    expect(t.app.services.registry.get('sneaky')).toBeUndefined();
  });

  it('an admin token without the admin scope cannot write', async () => {
    const scoped = await apiToken('admin', { name: 'api-only', scopes: ['api:write'] });
    const r = await t.inject({ method: 'POST', url: '/api/v1/servers', headers: bearer(scoped), payload: { name: 'scoped', url: up.url } });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('insufficient_scope');
  });
});

describe('lifecycle and discovery (operator, admin)', () => {
  it('an operator stops and starts a stdio server', async () => {
    const stop = await send('POST', '/api/v1/servers/files/stop', 'olga');
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json()).toMatchObject({ name: 'files', status: { state: 'stopped' } });
    expect((await get('/api/v1/servers/files', 'vic')).json().status.state).toBe('stopped');
    const start = await send('POST', '/api/v1/servers/files/start', 'admin');
    expect(start.json()).toMatchObject({ status: { state: 'idle' } });

    await t.app.services.audit.flush();
    const events = await t.store.audit.query({ server: 'files', limit: 10 });
    expect(events.map((e) => e.action).sort()).toEqual(['server.start', 'server.stop']);
  });

  it('start/stop of a remote server is a conflict', async () => {
    const r = await send('POST', '/api/v1/servers/demo/stop', 'olga');
    expect(r.statusCode).toBe(409);
  });

  it('viewers and users cannot start, stop or discover', async () => {
    for (const who of ['vic', 'alice'] as const)
      for (const op of ['start', 'stop', 'discover']) {
        const r = await send('POST', `/api/v1/servers/files/${op}`, who);
        expect(r.statusCode, `${who} ${op}`).toBe(403);
      }
  });

  it('discover lists everything the upstream offers, with the gateway credentials', async () => {
    const before = up.requests.length;
    const r = await send('POST', '/api/v1/servers/demo/discover', 'olga');
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body.tools.map((x: { name: string }) => x.name).sort()).toEqual(['add', 'echo', 'secret_admin', 'whoami']);
    expect(body.resources.map((x: { uri: string }) => x.uri)).toEqual(['file:///readme.txt']);
    expect(body.prompts.map((x: { name: string }) => x.name)).toEqual(['greet']);
    expect(body.server_info).toMatchObject({ name: 'test-upstream' });
    const seen = up.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const req of seen) {
      expect(req.headers['x-upstream-key']).toBe('gateway-key');
      expect(req.headers.authorization).toBeUndefined();
    }
  });

  it('discovery of an unreachable upstream is 502', async () => {
    expect((await send('POST', '/api/v1/servers', 'admin', { name: 'down', url: 'http://127.0.0.1:9/mcp', timeout: '2s' })).statusCode).toBe(201);
    const r = await send('POST', '/api/v1/servers/down/discover', 'admin');
    expect(r.statusCode).toBeGreaterThanOrEqual(502);
    expect(r.statusCode).toBeLessThanOrEqual(504);
    expect((await send('DELETE', '/api/v1/servers/down', 'admin')).statusCode).toBe(204);
  });
});

describe('per-user upstream credentials API', () => {
  const url = '/api/v1/servers/demo/credentials';

  it('stores headers and returns only their names', async () => {
    const put = await send('PUT', url, 'alice', { headers: { 'X-User-Token': 'alice-secret-1' } });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json()).toMatchObject({ server: 'demo', headers: ['X-User-Token'] });
    expect(put.body).not.toContain('alice-secret-1');
    const again = await send('PUT', url, 'alice', { headers: { 'X-User-Token': 'alice-secret-2', Authorization: 'Bearer upstream-pat' } });
    expect(again.statusCode).toBe(200);
    const g = await get(url, 'alice');
    expect(g.json().headers).toEqual(['Authorization', 'X-User-Token']);
    expect(g.body).not.toContain('alice-secret');

    const row = await t.store.credentials.get(ids.alice, 'demo');
    expect(row!.ciphertext).not.toContain('alice-secret-2');
    expect(row!.ciphertext).not.toContain('upstream-pat');

    await t.app.services.audit.flush();
    const events = await t.store.audit.query({ actions: ['server.credentials'], limit: 10 });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(events)).not.toContain('alice-secret');
    expect(t.logs.join('')).not.toContain('alice-secret');
  });

  it('each principal sees only its own credentials', async () => {
    const g = await get(url, 'admin');
    expect(g.json().headers).toEqual([]);
  });

  it('refuses servers the caller may not use', async () => {
    const hidden = await send('PUT', url, 'bob', { headers: { 'X-User-Token': 'x' } });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().code).toBe('unknown_server');
    // A viewer sees the server but has no grant on it.
    const viewer = await send('PUT', url, 'vic', { headers: { 'X-User-Token': 'x' } });
    expect(viewer.statusCode).toBe(403);
    expect(viewer.json().code).toBe('forbidden');
    expect((await send('PUT', '/api/v1/servers/files/credentials', 'alice', { headers: { 'X-A': 'x' } })).statusCode).toBe(404);
    expect(await t.store.credentials.get(ids.bob, 'demo')).toBeUndefined();
    expect(await t.store.credentials.get(ids.vic, 'demo')).toBeUndefined();
  });

  it('validates header names and refuses gateway-managed or server-defined headers (422)', async () => {
    for (const [headers, field] of [
      [{ Host: 'evil' }, 'headers.Host'],
      [{ 'Mcp-Session-Id': 'x' }, 'headers.Mcp-Session-Id'],
      [{ 'X-Upstream-Key': 'mine' }, 'headers.X-Upstream-Key'],
      [{ 'Bad Header': 'x' }, 'headers.Bad Header'],
      [{ 'X-Ok': 'line\nbreak' }, 'headers.X-Ok'],
      [{}, 'headers'],
    ] as const) {
      const r = await send('PUT', url, 'olga', { headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(422);
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect((await send('PUT', url, 'olga', { nope: 1 })).statusCode).toBe(422);
    expect(await t.store.credentials.get(ids.olga, 'demo')).toBeUndefined();
  });

  it('needs api:write to change and api:read to read', async () => {
    const ro = await apiToken('alice', { name: 'cred-ro', scopes: ['api:read'] });
    const r = await t.inject({ method: 'PUT', url, headers: bearer(ro), payload: { headers: { 'X-User-Token': 'x' } } });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('insufficient_scope');
    expect((await t.inject({ method: 'GET', url, headers: bearer(ro) })).statusCode).toBe(200);
  });

  it('the stored headers reach the upstream for their owner only, and never the client credential', async () => {
    const before = up.requests.length;
    await t.app.services.upstreams.discover('demo', ids.alice);
    const alice = up.requests.slice(before);
    expect(alice.length).toBeGreaterThan(0);
    for (const r of alice) {
      expect(r.headers['x-user-token']).toBe('alice-secret-2');
      expect(r.headers.authorization).toBe('Bearer upstream-pat');
      expect(r.headers['x-upstream-key']).toBe('gateway-key');
    }
    const mid = up.requests.length;
    await t.app.services.upstreams.discover('demo', ids.olga);
    for (const r of up.requests.slice(mid)) {
      expect(r.headers['x-user-token']).toBeUndefined();
      expect(r.headers.authorization).toBeUndefined();
    }
  });

  it('delete removes them at once (cache invalidated); deleting again is 404', async () => {
    const d = await send('DELETE', url, 'alice');
    expect(d.statusCode).toBe(204);
    expect(await t.app.services.userCredentials.headersFor(ids.alice, 'demo')).toBeUndefined();
    const before = up.requests.length;
    await t.app.services.upstreams.discover('demo', ids.alice);
    for (const r of up.requests.slice(before)) expect(r.headers['x-user-token']).toBeUndefined();
    const again = await send('DELETE', url, 'alice');
    expect(again.statusCode).toBe(404);
  });

  it('deleting a runtime server deletes the credentials stored for it', async () => {
    expect((await send('POST', '/api/v1/servers', 'admin', { name: 'temp', url: up.url })).statusCode).toBe(201);
    expect((await send('PUT', '/api/v1/servers/temp/credentials', 'admin', { headers: { 'X-User-Token': 'tmp' } })).statusCode).toBe(201);
    expect(await t.store.credentials.get(ids.admin, 'temp')).toBeDefined();
    expect((await send('DELETE', '/api/v1/servers/temp', 'admin')).statusCode).toBe(204);
    const rows = await t.store.db.kysely.selectFrom('user_credentials').selectAll().where('server', '=', 'temp').execute();
    expect(rows).toEqual([]);
  });
});

describe('deleting a user', () => {
  it('deletes the credentials the user stored', async () => {
    const u = await register(t, 'leaver@example.com');
    expect((await send('PUT', `/api/v1/users/${u.user.id}`, 'admin', { groups: ['eng'] })).statusCode).toBe(200);
    const put = await t.inject({ method: 'PUT', url: '/api/v1/servers/demo/credentials', headers: bearer(u.token), payload: { headers: { 'X-User-Token': 'leaver' } } });
    expect(put.statusCode, put.body).toBe(201);
    expect(await t.app.services.userCredentials.headersFor(u.user.id, 'demo')).toEqual({ 'X-User-Token': 'leaver' });
    expect((await send('DELETE', `/api/v1/users/${u.user.id}`, 'admin')).statusCode).toBe(204);
    expect(await t.store.credentials.get(u.user.id, 'demo')).toBeUndefined();
    expect(await t.app.services.userCredentials.headersFor(u.user.id, 'demo')).toBeUndefined();
  });
});

describe('without credentials.encryption_key', () => {
  it('storing credentials is refused with encryption_key_missing', async () => {
    const t2 = await startTestApp({ config: { servers: [{ name: 'demo', url: up.url }] } });
    try {
      const admin = await register(t2, 'root@example.com');
      const r = await t2.inject({ method: 'PUT', url: '/api/v1/servers/demo/credentials', headers: bearer(admin.token), payload: { headers: { 'X-User-Token': 'x' } } });
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('encryption_key_missing');
      expect(await t2.store.credentials.count()).toBe(0);
    } finally {
      await t2.close();
    }
  });
});
