/**
 * Two real gateway processes on one PostgreSQL database and one Redis behave
 * as one gateway: what is changed through replica A applies on replica B
 * within 1 s. Both start at the same moment on a fresh database.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { CodeMigrationProvider } from '../../src/store/migrations/index.js';
import { startHttpUpstream, STDIO_FIXTURE, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { connectClient, rawInitialize, rpc, sseMessages } from '../helpers/mcp.js';
import { createPgDatabase, REDIS_URL, type TestDb } from '../helpers/db.js';
import { api, startGatewayProcess, waitFor, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const PROPAGATION_MS = 1_000;

describe('two replicas on PostgreSQL + Redis', () => {
  let db: TestDb;
  let cfg: ReturnType<typeof writeConfig>;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let admin: string;
  let upstream: FixtureUpstream;

  beforeAll(async () => {
    db = await createPgDatabase();
    upstream = await startHttpUpstream();
    cfg = writeConfig({
      // Both replicas sit behind one public URL (the load balancer's): tokens name it as issuer.
      server: { host: '127.0.0.1', port: 0, public_url: 'http://127.0.0.1:18080', shutdown_timeout: '5s' },
      storage: { url: db.url, pool_size: 4 },
      redis: { url: REDIS_URL, key_prefix: `pcl-2r-${randomBytes(6).toString('hex')}:` },
      logging: { level: 'info' },
      servers: [
        { name: 'remote', url: upstream.url },
        { name: 'local', command: process.execPath, args: [STDIO_FIXTURE] },
      ],
    });
    // the same moment, on an empty database
    [a, b] = await Promise.all([startGatewayProcess(cfg.file), startGatewayProcess(cfg.file)]);
    const reg = await api(a.url, 'POST', '/api/v1/auth/register', { body: { email: 'admin@example.com', password: 'correct horse battery' } });
    expect(reg.status).toBe(201);
    admin = reg.body.token;
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
    cfg?.cleanup();
    await upstream?.close();
    expect(codes).toEqual([0, 0]);
  });

  it('both replicas came up on a fresh database; the migrations ran exactly once', async () => {
    for (const r of [a, b]) {
      const ready = await api(r.url, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toEqual({ store: 'ok', redis: 'ok' });
    }
    const expected = Object.keys(await new CodeMigrationProvider().getMigrations()).sort();
    const migrated = [a, b].filter((r) => r.output.some((l) => l.includes('database migrated')));
    expect(migrated).toHaveLength(1);
    const line = JSON.parse(migrated[0].output.find((l) => l.includes('database migrated'))!);
    expect([...line.applied].sort()).toEqual(expected);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const rows = (await c.query('select name from kysely_migration order by name')).rows.map((r: { name: string }) => r.name);
    await c.end();
    expect(rows).toEqual(expected);
  });

  it("an access token issued by A is accepted by B (shared signing secret and issuer)", async () => {
    const me = await api(b.url, 'GET', '/api/v1/auth/me', { token: admin });
    expect(me.status).toBe(200);
    expect(me.body.email).toBe('admin@example.com');
  });

  it('an API token revoked on A is refused on B within 1 s', async () => {
    const created = await api(a.url, 'POST', '/api/v1/auth/tokens', { token: admin, body: { name: 'ci' } });
    expect(created.status).toBe(201);
    const secret: string = created.body.token;
    // B has it cached now
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: secret })).status).toBe(200);
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: secret })).status).toBe(200);
    const t0 = Date.now();
    expect((await api(a.url, 'DELETE', `/api/v1/auth/tokens/${created.body.api_token.id}`, { token: admin })).status).toBe(204);
    await waitFor(async () => (await api(b.url, 'GET', '/api/v1/auth/me', { token: secret })).status === 401, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
    const refused = await api(b.url, 'GET', '/api/v1/auth/me', { token: secret });
    expect(refused.body.code).toBe('invalid_token');
  });

  it('an API token rotated on A: the old secret is refused and the new one accepted on B within 1 s', async () => {
    const created = await api(a.url, 'POST', '/api/v1/auth/tokens', { token: admin, body: { name: 'rotating' } });
    const old: string = created.body.token;
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: old })).status).toBe(200);
    const t0 = Date.now();
    const rotated = await api(a.url, 'POST', `/api/v1/auth/tokens/${created.body.api_token.id}/rotate`, { token: admin });
    expect(rotated.status).toBe(200);
    await waitFor(async () => (await api(b.url, 'GET', '/api/v1/auth/me', { token: old })).status === 401, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: rotated.body.token })).status).toBe(200);
  });

  it("a user's role and group change made on A applies on B within 1 s", async () => {
    const u = await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'dev@example.com', password: 'another good password' } });
    expect(u.status).toBe(201);
    const userId: string = u.body.id ?? u.body.user?.id;
    const login = await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'dev@example.com', password: 'another good password' } });
    expect(login.status).toBe(200);
    const jwt: string = login.body.token;
    const before = await api(b.url, 'GET', '/api/v1/auth/me', { token: jwt });
    expect(before.body).toMatchObject({ role: 'user', groups: [] });
    // a plain user may not list users on B
    expect((await api(b.url, 'GET', '/api/v1/users', { token: jwt })).status).toBe(403);

    const group = await api(a.url, 'POST', '/api/v1/groups', { token: admin, body: { name: 'eng', description: 'Engineering', grants: [] } });
    expect(group.status).toBe(201);
    const t0 = Date.now();
    const put = await api(a.url, 'PUT', `/api/v1/users/${userId}`, { token: admin, body: { role: 'viewer', groups: ['eng'] } });
    expect(put.status).toBe(200);
    await waitFor(async () => {
      const me = await api(b.url, 'GET', '/api/v1/auth/me', { token: jwt });
      return me.body.role === 'viewer' && JSON.stringify(me.body.groups) === '["eng"]';
    }, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
    // the same token now carries viewer rights on B
    expect((await api(b.url, 'GET', '/api/v1/users', { token: jwt })).status).toBe(200);
  });

  it('a user disabled on A is refused on B within 1 s (API token and access token alike)', async () => {
    const u = await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'leaver@example.com', password: 'yet another password' } });
    const userId: string = u.body.id ?? u.body.user?.id;
    const jwt: string = (await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'leaver@example.com', password: 'yet another password' } })).body.token;
    const apiToken: string = (await api(a.url, 'POST', '/api/v1/auth/tokens', { token: jwt, body: { name: 'laptop' } })).body.token;
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: jwt })).status).toBe(200);
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: apiToken })).status).toBe(200);
    const t0 = Date.now();
    expect((await api(a.url, 'PUT', `/api/v1/users/${userId}`, { token: admin, body: { disabled: true } })).status).toBe(200);
    await waitFor(async () => {
      const [viaJwt, viaApi] = await Promise.all([
        api(b.url, 'GET', '/api/v1/auth/me', { token: jwt }),
        api(b.url, 'GET', '/api/v1/auth/me', { token: apiToken }),
      ]);
      return viaJwt.status === 401 && viaApi.status === 401;
    }, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: apiToken })).body.code).toBe('user_disabled');
  });

  it("an API token's rate limit counts requests on both replicas together", async () => {
    const created = await api(a.url, 'POST', '/api/v1/auth/tokens', { token: admin, body: { name: 'limited', rate_limit_per_hour: 4 } });
    expect(created.status).toBe(201);
    const secret: string = created.body.token;
    const statuses: number[] = [];
    for (const r of [a, b, a, b]) statuses.push((await api(r.url, 'GET', '/api/v1/auth/me', { token: secret })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    // the fifth request is over the budget whichever replica gets it
    for (const r of [b, a]) {
      const refused = await api(r.url, 'GET', '/api/v1/auth/me', { token: secret });
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('logout on A kills the access token on B within 1 s', async () => {
    const login = await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'admin@example.com', password: 'correct horse battery' } });
    const jwt: string = login.body.token;
    expect((await api(b.url, 'GET', '/api/v1/auth/me', { token: jwt })).status).toBe(200);
    const t0 = Date.now();
    expect((await api(a.url, 'POST', '/api/v1/auth/logout', { token: jwt })).status).toBe(204);
    await waitFor(async () => (await api(b.url, 'GET', '/api/v1/auth/me', { token: jwt })).status === 401, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
  });

  it('a custom role made on A is honoured on B, and a change to it applies on B within 1 s', async () => {
    const role = await api(a.url, 'POST', '/api/v1/roles', { token: admin, body: { name: 'developer', permissions: ['audit:read', 'servers:operate'] } });
    expect(role.status, JSON.stringify(role.body)).toBe(201);
    const u = await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'developer@example.com', password: 'developer password', role: 'developer' } });
    expect(u.status).toBe(201);
    const jwt: string = (await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'developer@example.com', password: 'developer password' } })).body.token;
    expect((await api(b.url, 'GET', '/api/v1/audit', { token: jwt })).status).toBe(200);
    const stop = await api(b.url, 'POST', '/api/v1/servers/local/stop', { token: jwt });
    expect(stop.status, JSON.stringify(stop.body)).toBe(200);
    expect((await api(b.url, 'POST', '/api/v1/servers/local/start', { token: jwt })).status).toBe(200);
    expect((await api(b.url, 'GET', '/api/v1/users', { token: jwt })).status).toBe(403);

    const t0 = Date.now();
    expect((await api(a.url, 'PUT', '/api/v1/roles/developer', { token: admin, body: { permissions: ['servers:operate'] } })).status).toBe(200);
    await waitFor(async () => (await api(b.url, 'GET', '/api/v1/audit', { token: jwt })).status === 403, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
    expect((await api(b.url, 'DELETE', '/api/v1/roles/developer', { token: admin })).body.code).toBe('role_in_use');
  });

  describe('MCP sessions', () => {
    const PV = '2025-06-18';
    let apiToken: string;
    beforeAll(async () => {
      apiToken = (await api(a.url, 'POST', '/api/v1/auth/tokens', { token: admin, body: { name: 'mcp' } })).body.token;
    });

    it('a session opened through A with the SDK client continues through B (Streamable HTTP upstream), and DELETE on B ends it on A', async () => {
      const { client, transport } = await connectClient(`${a.url}/mcp/remote`, apiToken);
      expect(await client.callTool({ name: 'echo', arguments: { text: 'via A' } })).toMatchObject({ content: [{ type: 'text', text: 'echo: via A' }] });
      const sid = transport.sessionId!;
      expect(sid).toBeTruthy();
      const headers = { authorization: `Bearer ${apiToken}`, 'mcp-session-id': sid, 'mcp-protocol-version': PV };

      upstream.reset();
      const viaB = await rpc(`${b.url}/mcp/remote`, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'via B' } } }, headers);
      expect(viaB.status).toBe(200);
      expect(viaB.text).toContain('echo: via B');
      // B forwarded into the same upstream session A opened
      const upstreamSids = new Set(upstream.seen.map((x) => x.headers['mcp-session-id']));
      expect(upstreamSids.size).toBe(1);
      expect([...upstreamSids][0]).toBeTruthy();
      expect([...upstreamSids][0]).not.toBe(sid); // the client only ever sees the gateway's id

      // the SDK client on A keeps working after B served the session
      expect(await client.callTool({ name: 'echo', arguments: { text: 'A again' } })).toMatchObject({ content: [{ type: 'text', text: 'echo: A again' }] });

      // another principal presenting the id on B gets 404, and nothing reaches the upstream
      const other = (await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'mallory@example.com', password: 'mallory password', role: 'admin' } })).body;
      expect(other.id ?? other.user?.id).toBeTruthy();
      const otherJwt = (await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'mallory@example.com', password: 'mallory password' } })).body.token;
      upstream.reset();
      const stolen = await rpc(`${b.url}/mcp/remote`, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, { ...headers, authorization: `Bearer ${otherJwt}` });
      expect(stolen.status).toBe(404);
      expect(upstream.seen).toHaveLength(0);

      // DELETE through B ends the session everywhere
      const del = await fetch(`${b.url}/mcp/remote`, { method: 'DELETE', headers });
      expect(del.status).toBeLessThan(300);
      const t0 = Date.now();
      await waitFor(async () => (await rpc(`${a.url}/mcp/remote`, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, headers)).status === 404, PROPAGATION_MS);
      expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
      await client.close().catch(() => {});
    });

    it("a group's grants changed on A apply to MCP authorization on B within 1 s", async () => {
      await api(a.url, 'POST', '/api/v1/groups', { token: admin, body: { name: 'mcp-users', grants: [{ server: 'remote', tools: ['echo'], access_level: 'execute' }] } });
      const u = (await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'mcp-user@example.com', password: 'mcp user password', groups: ['mcp-users'] } })).body;
      const jwt: string = (await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'mcp-user@example.com', password: 'mcp user password' } })).body.token;
      expect(u.id ?? u.user?.id).toBeTruthy();
      const headers = { authorization: `Bearer ${jwt}` };
      const sid = await rawInitialize(`${b.url}/mcp/remote`, headers, PV);
      const withSid = { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': PV };
      const toolsOnB = async () => {
        const r = await rpc(`${b.url}/mcp/remote`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, withSid);
        const msg = r.headers.get('content-type')?.includes('text/event-stream') ? sseMessages(r.text)[0] : r.json();
        return (msg.result.tools as { name: string }[]).map((t) => t.name).sort();
      };
      expect(await toolsOnB()).toEqual(['echo']);
      const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_file', arguments: { path: 'x' } } };
      expect((await rpc(`${b.url}/mcp/remote`, call, withSid)).text).toContain('-32003');

      const t0 = Date.now();
      const put = await api(a.url, 'PUT', '/api/v1/groups/mcp-users', { token: admin, body: { grants: [{ server: 'remote', tools: ['echo', 'read_*'], access_level: 'execute' }] } });
      expect(put.status).toBe(200);
      await waitFor(async () => JSON.stringify(await toolsOnB()) === '["echo","read_file"]', PROPAGATION_MS);
      expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
      expect((await rpc(`${b.url}/mcp/remote`, call, withSid)).text).not.toContain('-32003');
    });

    it('a stdio session is replica-local: on the other replica its owner gets 404 session_not_found naming the routing problem', async () => {
      const headers = { authorization: `Bearer ${apiToken}` };
      const sid = await rawInitialize(`${a.url}/mcp/local`, headers, PV);
      const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'stdio' } } };
      const withSid = { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': PV };
      const onA = await rpc(`${a.url}/mcp/local`, call, withSid);
      expect(onA.status).toBe(200);
      expect(onA.text).toContain('echo: stdio');
      const onB = await rpc(`${b.url}/mcp/local`, call, withSid);
      expect(onB.status).toBe(404);
      expect(onB.text).toMatch(/another gateway replica/);
      expect(onB.text).toMatch(/sticky/);
      // still alive where it lives
      expect((await rpc(`${a.url}/mcp/local`, call, withSid)).status).toBe(200);
      expect((await fetch(`${a.url}/mcp/local`, { method: 'DELETE', headers: withSid })).status).toBeLessThan(300);
    });
  });
});
