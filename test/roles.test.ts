/**
 * Custom roles (SPEC §14): /api/v1/roles, roles from the config file, the
 * built-in roles as permission sets, and what a custom role may do — on
 * SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_ROLE_PERMISSIONS, PERMISSIONS } from '../src/auth/permissions.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

describe.each(BACKENDS)('custom roles (%s)', (backend) => {
  let t: TestApp;
  let admin: string;
  let dev: { token: string; user: { id: string } };
  let other: { token: string; user: { id: string } };

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: unknown) =>
    t.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

  beforeAll(async () => {
    t = await startTestApp({
      backend,
      config: {
        servers: [{ name: 'files', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }],
        roles: [{ name: 'auditor', description: 'reads the audit', permissions: ['audit:read'] }],
      },
    });
    admin = (await register(t, 'admin@example.com')).token;
    dev = await register(t, 'dev@example.com');
    other = await register(t, 'other@example.com');
  });
  afterAll(async () => t?.close());

  it('lists the built-in roles as permission sets, then config and API roles', async () => {
    const r = await call('GET', '/api/v1/roles', admin);
    expect(r.statusCode, r.body).toBe(200);
    const roles = r.json().roles as { name: string; source: string; permissions: string[]; users: number }[];
    expect(roles.map((x) => [x.name, x.source])).toEqual([
      ['admin', 'builtin'],
      ['operator', 'builtin'],
      ['viewer', 'builtin'],
      ['user', 'builtin'],
      ['auditor', 'config'],
    ]);
    expect(roles[0].permissions).toEqual([...PERMISSIONS]);
    expect(roles.find((x) => x.name === 'operator')!.permissions.sort()).toEqual([...BUILTIN_ROLE_PERMISSIONS.operator].sort());
    expect(roles.find((x) => x.name === 'user')!.permissions).toEqual([]);
    expect(roles.find((x) => x.name === 'admin')!.users).toBe(1);
  });

  it('an admin creates a developer role; a user given it reads the audit and operates servers, and nothing else', async () => {
    const created = await call('POST', '/api/v1/roles', admin, { name: 'developer', description: 'audit and servers', permissions: ['audit:read', 'servers:operate'] });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ name: 'developer', source: 'api', permissions: ['audit:read', 'servers:operate'], users: 0 });

    expect((await call('GET', '/api/v1/audit', dev.token)).statusCode).toBe(403);
    const put = await call('PUT', `/api/v1/users/${dev.user.id}`, admin, { role: 'developer' });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().role).toBe('developer');

    // the very next request has the role's permissions
    const audit = await call('GET', '/api/v1/audit', dev.token);
    expect(audit.statusCode, audit.body).toBe(200);
    const stop = await call('POST', '/api/v1/servers/files/stop', dev.token);
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json()).toMatchObject({ name: 'files', status: { state: 'stopped' } });
    const start = await call('POST', '/api/v1/servers/files/start', dev.token);
    expect(start.statusCode, start.body).toBe(200);

    const users = await call('GET', '/api/v1/users', dev.token);
    expect(users.statusCode).toBe(403);
    expect(users.json()).toMatchObject({ code: 'forbidden', detail: 'This operation needs the users:read permission' });
    for (const [m, url] of [['GET', '/api/v1/groups'], ['POST', '/api/v1/servers'], ['GET', '/api/v1/service-accounts'], ['GET', '/api/v1/roles']] as const)
      expect((await call(m, url, dev.token, m === 'POST' ? { name: 'x', url: 'http://127.0.0.1:9/mcp' } : undefined)).statusCode, `${m} ${url}`).toBe(403);
    // MCP access still comes only from groups: no server is visible through grants
    expect((await call('GET', '/api/v1/servers', dev.token)).json().servers).toEqual([]);

    const me = await call('GET', '/api/v1/auth/me', dev.token);
    expect(me.json()).toMatchObject({ role: 'developer', permissions: ['audit:read', 'servers:operate'] });
  });

  it('token scopes still narrow a custom role: an api:read token cannot operate servers', async () => {
    const tok = await call('POST', '/api/v1/auth/tokens', dev.token, { name: 'ro', scopes: ['api:read'] });
    expect(tok.statusCode, tok.body).toBe(201);
    const r = await t.inject({ method: 'POST', url: '/api/v1/servers/files/stop', headers: { 'x-api-key': tok.json().token } });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('insufficient_scope');
    expect((await t.inject({ method: 'GET', url: '/api/v1/audit', headers: { 'x-api-key': tok.json().token } })).statusCode).toBe(200);
  });

  it('a change to the role applies to the next request', async () => {
    const r = await call('PUT', '/api/v1/roles/developer', admin, { permissions: ['servers:operate'] });
    expect(r.statusCode, r.body).toBe(200);
    expect((await call('GET', '/api/v1/audit', dev.token)).statusCode).toBe(403);
    await call('PUT', '/api/v1/roles/developer', admin, { permissions: ['audit:read', 'servers:operate'] });
    expect((await call('GET', '/api/v1/audit', dev.token)).statusCode).toBe(200);
  });

  it('a role in use cannot be deleted (409 role_in_use); an unused one can', async () => {
    const r = await call('DELETE', '/api/v1/roles/developer', admin);
    expect(r.statusCode).toBe(409);
    expect(r.json().code).toBe('role_in_use');
    const spare = await call('POST', '/api/v1/roles', admin, { name: 'spare', permissions: [] });
    expect(spare.statusCode).toBe(201);
    expect((await call('DELETE', '/api/v1/roles/spare', admin)).statusCode).toBe(204);
    expect((await call('GET', '/api/v1/roles/spare', admin)).statusCode).toBe(404);
  });

  it('an unknown role is refused when assigned (422), with every other problem', async () => {
    const put = await call('PUT', `/api/v1/users/${other.user.id}`, admin, { role: 'wizard' });
    expect(put.statusCode).toBe(422);
    expect(put.json().errors).toEqual([{ field: 'role', message: expect.stringContaining('no role named wizard') }]);
    const post = await call('POST', '/api/v1/users', admin, { email: 'bad', password: 'short', role: 'wizard' });
    expect(post.statusCode).toBe(422);
    expect(post.json().errors.map((e: { field: string }) => e.field).sort()).toEqual(['email', 'password', 'role']);
    const cfg = await call('PUT', `/api/v1/users/${other.user.id}`, admin, { role: 'auditor' });
    expect(cfg.statusCode, cfg.body).toBe(200);
    expect((await call('GET', '/api/v1/audit', other.token)).statusCode).toBe(200);
  });

  it('built-in and config roles are read-only; names and permissions are validated', async () => {
    for (const name of ['admin', 'auditor']) {
      expect((await call('PUT', `/api/v1/roles/${name}`, admin, { permissions: [] })).json().code).toBe('read_only');
      expect((await call('DELETE', `/api/v1/roles/${name}`, admin)).json().code).toBe('read_only');
    }
    expect((await call('POST', '/api/v1/roles', admin, { name: 'auditor', permissions: [] })).json().code).toBe('read_only');
    const bad = await call('POST', '/api/v1/roles', admin, { name: 'Bad Name', permissions: ['servers:fly'] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors.map((e: { field: string }) => e.field).sort()).toEqual(['name', 'permissions[0]']);
    expect((await call('POST', '/api/v1/roles', admin, { name: 'viewer', permissions: [] })).statusCode).toBe(422);
    expect((await call('POST', '/api/v1/roles', admin, { name: 'developer', permissions: [] })).json().code).toBe('conflict');
  });

  it('nobody hands out more than they hold: a user manager cannot grant admin or permissions it lacks', async () => {
    await call('POST', '/api/v1/roles', admin, { name: 'usermgr', permissions: ['users:read', 'users:write'] });
    const mgr = await register(t, 'mgr@example.com');
    const plain = await register(t, 'plain@example.com');
    await call('PUT', `/api/v1/users/${mgr.user.id}`, admin, { role: 'usermgr' });
    // may manage plain users
    expect((await call('PUT', `/api/v1/users/${plain.user.id}`, mgr.token, { groups: ['eng'] })).statusCode).toBe(200);
    for (const role of ['admin', 'developer', 'operator']) {
      const r = await call('PUT', `/api/v1/users/${plain.user.id}`, mgr.token, { role });
      expect(r.statusCode, role).toBe(403);
      expect(r.json().code).toBe('forbidden');
    }
    expect((await call('PUT', `/api/v1/users/${mgr.user.id}`, mgr.token, { role: 'admin' })).statusCode).toBe(403);
    // nor act on someone holding more (the developer, the auditor) or create roles beyond its own permissions
    expect((await call('PUT', `/api/v1/users/${dev.user.id}`, mgr.token, { disabled: true })).statusCode).toBe(403);
    expect((await call('PUT', `/api/v1/users/${other.user.id}`, mgr.token, { role: 'user' })).statusCode).toBe(403);
    expect((await call('POST', '/api/v1/roles', mgr.token, { name: 'bigger', permissions: ['audit:read'] })).statusCode).toBe(403);
    expect((await call('POST', '/api/v1/roles', mgr.token, { name: 'smaller', permissions: ['users:read'] })).statusCode).toBe(201);
    expect((await call('GET', `/api/v1/users/${encodeURIComponent('dev@example.com')}`, mgr.token)).json().id).toBe(dev.user.id);
  });

  it('a role change reaches another replica on the same store through the change feed (no Redis)', async () => {
    const { buildApp } = await import('../src/app.js');
    const { openStore } = await import('../src/store/index.js');
    const { createLogger } = await import('../src/lib/logger.js');
    const store = await openStore(t.db.url);
    const b = await buildApp({ config: t.config, store, logger: createLogger('silent') });
    try {
      const onB = () => b.http.inject({ method: 'GET', url: '/api/v1/audit', headers: bearer(dev.token) });
      expect((await onB()).statusCode).toBe(200);
      await call('PUT', '/api/v1/roles/developer', admin, { permissions: ['servers:operate'] });
      const t0 = Date.now();
      while ((await onB()).statusCode !== 403) {
        expect(Date.now() - t0, 'refused on the other replica within the poll interval').toBeLessThan(5_000);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await b.close();
      await store.close();
    }
  });
});
