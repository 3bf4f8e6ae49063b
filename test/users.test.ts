import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

const PW = 'correct horse battery';

describe.each(BACKENDS)('users API (%s)', (backend) => {
  let t: TestApp;
  let admin: { token: string; user: { id: string } };
  let viewer: { token: string; user: { id: string } };
  let plain: { token: string; user: { id: string } };

  const login = async (email: string, password = PW) => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
    if (r.statusCode !== 200) throw new Error(`login failed: ${r.statusCode} ${r.body}`);
    return r.json() as { token: string; refresh_token: string; user: { id: string } };
  };
  const createUser = async (payload: Record<string, unknown>) => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { password: PW, ...payload } });
    if (r.statusCode !== 201) throw new Error(`create failed: ${r.statusCode} ${r.body}`);
    return r.json() as { id: string; email: string; role: string; groups: string[] };
  };
  const put = (id: string, payload: Record<string, unknown>, auth = bearer(admin.token)) =>
    t.inject({ method: 'PUT', url: `/api/v1/users/${id}`, headers: auth, payload });
  const apiToken = async (auth: Record<string, string>) =>
    (await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: auth, payload: { name: 'cli' } })).json().token as string;

  beforeAll(async () => {
    t = await startTestApp({ backend });
    admin = await register(t, 'root@example.com');
    plain = await register(t, 'plain@example.com');
    const v = await createUser({ email: 'viewer@example.com', role: 'viewer' });
    viewer = { ...(await login('viewer@example.com')), user: { id: v.id } };
  });
  afterAll(async () => t?.close());

  it('admin and viewer can list and read users; never a password hash', async () => {
    for (const auth of [bearer(admin.token), bearer(viewer.token)]) {
      const list = await t.inject({ method: 'GET', url: '/api/v1/users', headers: auth });
      expect(list.statusCode).toBe(200);
      const users = list.json().users as { email: string }[];
      expect(users.map((u) => u.email)).toEqual(expect.arrayContaining(['root@example.com', 'plain@example.com', 'viewer@example.com']));
      expect(list.body).not.toMatch(/password|argon2/i);
      const one = await t.inject({ method: 'GET', url: `/api/v1/users/${plain.user.id}`, headers: auth });
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({ id: plain.user.id, email: 'plain@example.com', role: 'user', groups: [], disabled: false });
      expect(one.body).not.toMatch(/password|argon2/i);
    }
    const missing = await t.inject({ method: 'GET', url: '/api/v1/users/00000000-0000-0000-0000-000000000000', headers: bearer(admin.token) });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('not_found');
    const junk = await t.inject({ method: 'GET', url: '/api/v1/users/not-a-uuid', headers: bearer(admin.token) });
    expect(junk.statusCode).toBe(404);
  });

  it('a viewer can read but not write (403 forbidden); a plain user cannot even read', async () => {
    const w = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(viewer.token), payload: { email: 'x@example.com', password: PW } });
    expect(w.statusCode).toBe(403);
    expect(w.json().code).toBe('forbidden');
    const p = await put(plain.user.id, { role: 'admin' }, bearer(viewer.token));
    expect(p.statusCode).toBe(403);
    expect(p.json().code).toBe('forbidden');
    const d = await t.inject({ method: 'DELETE', url: `/api/v1/users/${plain.user.id}`, headers: bearer(viewer.token) });
    expect(d.statusCode).toBe(403);
    const self = await put(plain.user.id, { role: 'admin' }, bearer(plain.token));
    expect(self.statusCode).toBe(403);
    expect(self.json().code).toBe('forbidden');
    const r = await t.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(plain.token) });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('forbidden');
    const anon = await t.inject({ method: 'GET', url: '/api/v1/users' });
    expect(anon.statusCode).toBe(401);
    // nothing changed
    const u = await t.store.users.byId(plain.user.id);
    expect(u?.role).toBe('user');
  });

  it('admin creates users with role and groups; they can log in; duplicates and bad bodies are refused', async () => {
    const u = await createUser({ email: 'Ops@Example.com', role: 'operator', groups: ['eng', 'ops'], username: 'ops1' });
    expect(u).toMatchObject({ email: 'Ops@Example.com', role: 'operator', groups: ['eng', 'ops'] });
    expect(JSON.stringify(u)).not.toMatch(/password/);
    const l = await login('ops@example.com');
    expect(l.user.id).toBe(u.id);
    const dup = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { email: 'ops@EXAMPLE.com', password: PW } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('conflict');
    for (const [payload, field] of [
      [{ email: 'not-an-email', password: PW }, 'email'],
      [{ email: 'short@example.com', password: 'short' }, 'password'],
      [{ email: 'role@example.com', password: PW, role: 'superuser' }, 'role'],
      [{ email: 'grp@example.com', password: PW, groups: ['bad group'] }, 'groups[0]'],
      [{ email: 'x@example.com', password: PW, password_hash: 'x' }, 'password_hash'],
    ] as const) {
      const r = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload });
      expect(r.statusCode, JSON.stringify(payload)).toBe(422);
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
  });

  it('a role change applies to the very next request, for session and API token alike', async () => {
    const u = await createUser({ email: 'promote@example.com' });
    const s = await login('promote@example.com');
    const tok = await apiToken(bearer(s.token));
    for (const auth of [bearer(s.token), { 'x-api-key': tok }]) {
      const r = await t.inject({ method: 'GET', url: '/api/v1/users', headers: auth });
      expect(r.statusCode).toBe(403);
    }
    const p = await put(u.id, { role: 'viewer' });
    expect(p.statusCode).toBe(200);
    expect(p.json().role).toBe('viewer');
    for (const auth of [bearer(s.token), { 'x-api-key': tok }]) {
      const r = await t.inject({ method: 'GET', url: '/api/v1/users', headers: auth });
      expect(r.statusCode).toBe(200);
    }
    expect((await put(u.id, { role: 'user' })).statusCode).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(s.token) })).statusCode).toBe(403);
  });

  it('a group change applies to the very next request', async () => {
    const u = await createUser({ email: 'grouped@example.com', groups: ['a'] });
    const s = await login('grouped@example.com');
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.token) })).json().groups).toEqual(['a']);
    const p = await put(u.id, { groups: ['b', 'c', 'b'] });
    expect(p.json().groups).toEqual(['b', 'c']);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.token) })).json().groups).toEqual(['b', 'c']);
  });

  it('disabling refuses every credential of the user on the next request; enabling restores API tokens only', async () => {
    const u = await createUser({ email: 'leaver@example.com' });
    const s = await login('leaver@example.com');
    const tok = await apiToken(bearer(s.token));
    const me = (h: Record<string, string>) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: h });
    expect((await me(bearer(s.token))).statusCode).toBe(200);
    expect((await me({ 'x-api-key': tok })).statusCode).toBe(200);

    const d = await put(u.id, { disabled: true });
    expect(d.statusCode).toBe(200);
    expect(d.json().disabled).toBe(true);
    // the session was ended (its family revoked); the API token's owner is disabled
    for (const [h, code] of [[bearer(s.token), 'invalid_token'], [{ 'x-api-key': tok }, 'user_disabled']] as const) {
      const r = await me(h);
      expect(r.statusCode).toBe(401);
      expect(r.json().code).toBe(code);
    }
    const refresh = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(refresh.statusCode).toBe(401);
    const relogin = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'leaver@example.com', password: PW } });
    expect(relogin.statusCode).toBe(401);

    expect((await put(u.id, { disabled: false })).statusCode).toBe(200);
    expect((await me({ 'x-api-key': tok })).statusCode).toBe(200);
    // the login session ended for good when the user was disabled
    expect((await me(bearer(s.token))).statusCode).toBe(401);
    const refresh2 = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(refresh2.statusCode).toBe(401);
  });

  it('deleting a user revokes every credential at once', async () => {
    const u = await createUser({ email: 'gone@example.com' });
    const s = await login('gone@example.com');
    const tok = await apiToken(bearer(s.token));
    const me = (h: Record<string, string>) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: h });
    expect((await me({ 'x-api-key': tok })).statusCode).toBe(200);
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: bearer(admin.token) });
    expect(del.statusCode).toBe(204);
    for (const h of [bearer(s.token), { 'x-api-key': tok }, bearer(tok)]) expect((await me(h)).statusCode).toBe(401);
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: `/api/v1/users/${u.id}`, headers: bearer(admin.token) })).statusCode).toBe(404);
    expect(await t.store.apiTokens.list(u.id)).toEqual([]);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: bearer(admin.token) })).statusCode).toBe(404);
  });

  it('the last enabled admin cannot be demoted, disabled or deleted (409 last_admin)', async () => {
    for (const body of [{ role: 'operator' }, { disabled: true }]) {
      const r = await put(admin.user.id, body);
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('last_admin');
    }
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/users/${admin.user.id}`, headers: bearer(admin.token) });
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('last_admin');
    expect((await t.store.users.byId(admin.user.id))?.role).toBe('admin');

    // with a second admin, the first may step down — and then the second is the last one
    const second = await createUser({ email: 'second-admin@example.com', role: 'admin' });
    const s2 = await login('second-admin@example.com');
    expect((await put(admin.user.id, { role: 'user' })).statusCode).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(admin.token) })).statusCode).toBe(403);
    const last = await put(second.id, { role: 'viewer' }, bearer(s2.token));
    expect(last.statusCode).toBe(409);
    expect(last.json().code).toBe('last_admin');
    // restore for the other tests
    expect((await put(admin.user.id, { role: 'admin' }, bearer(s2.token))).statusCode).toBe(200);
  });

  it('audits user.create, user.update and user.delete', async () => {
    await t.app.services.audit.flush();
    const rows = await t.store.db.kysely.selectFrom('audit_events').select(['action', 'actor', 'detail']).where('action', 'like', 'user.%').execute();
    const actions = new Set(rows.map((r) => r.action));
    expect(actions).toEqual(new Set(['user.create', 'user.update', 'user.delete']));
    expect(JSON.stringify(rows)).not.toContain(PW);
    expect(t.logs.join('')).not.toContain(PW);
  });
});
