/**
 * Registration: the first user ever becomes admin atomically (on both
 * backends, with real concurrency), registration modes, conflicts, 422s, and
 * login by username.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createLogger } from '../src/lib/logger.js';
import { openStore, type Store } from '../src/store/index.js';
import { bearer, register, startTestApp, testConfig, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

const PASSWORD = 'correct horse battery';

/**
 * A second gateway instance (replica) on the same database as `t`. SQLite is a
 * single-replica store (one connection per process), so there the "replica" is
 * the same app and concurrency comes from interleaved requests.
 */
async function replicaOf(t: TestApp): Promise<{ app: App; store: Store; close(): Promise<void> }> {
  if (t.db.url.startsWith('sqlite:')) return { app: t.app, store: t.store, close: async () => {} };
  const config = testConfig({ storage: { url: t.db.url }, auth: { registration: t.config.auth.registration } });
  const store = await openStore(config.storage.url);
  const app = await buildApp({ config, store, logger: createLogger('silent') });
  return {
    app,
    store,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

const registerReq = (email: string, extra: Record<string, unknown> = {}) => ({
  method: 'POST' as const,
  url: '/api/v1/auth/register',
  payload: { email, password: PASSWORD, ...extra },
});

describe.each(BACKENDS)('first user becomes admin atomically on %s', (backend) => {
  let t: TestApp;
  let replica: Awaited<ReturnType<typeof replicaOf>>;
  beforeAll(async () => {
    t = await startTestApp({ backend });
    replica = await replicaOf(t);
  });
  afterAll(async () => {
    await replica?.close();
    await t?.close();
  });

  it('10 concurrent registrations on a fresh gateway (two replicas on PostgreSQL) yield exactly one admin', async () => {
    const apps = [t.app, replica.app];
    const res = await Promise.all(Array.from({ length: 10 }, (_, i) => apps[i % 2].http.inject(registerReq(`racer${i}@example.com`))));
    expect(res.map((r) => r.statusCode)).toEqual(Array(10).fill(201));
    const roles = res.map((r) => r.json().user.role);
    expect(roles.filter((r) => r === 'admin')).toHaveLength(1);
    expect(roles.filter((r) => r === 'user')).toHaveLength(9);
    const stored = await t.store.users.list();
    expect(stored).toHaveLength(10);
    expect(stored.filter((u) => u.role === 'admin')).toHaveLength(1);
  });

  it('the admin token works, later registrations are users', async () => {
    const admin = (await t.store.users.list()).find((u) => u.role === 'admin')!;
    const login = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: admin.email, password: PASSWORD } });
    expect(login.statusCode).toBe(200);
    const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(login.json().token) });
    expect(me.json().role).toBe('admin');
    expect((await register(t, 'late@example.com')).user.role).toBe('user');
  });
});

describe.each(BACKENDS)('registration modes on %s', (backend) => {
  describe('first-user-only', () => {
    let t: TestApp;
    let replica: Awaited<ReturnType<typeof replicaOf>>;
    beforeAll(async () => {
      t = await startTestApp({ backend, config: { auth: { registration: 'first-user-only' } } });
      replica = await replicaOf(t);
    });
    afterAll(async () => {
      await replica?.close();
      await t?.close();
    });

    it('of concurrent first registrations exactly one succeeds (as admin); the rest get 403 registration_closed', async () => {
      const apps = [t.app, replica.app];
      const res = await Promise.all(Array.from({ length: 8 }, (_, i) => apps[i % 2].http.inject(registerReq(`first${i}@example.com`))));
      const ok = res.filter((r) => r.statusCode === 201);
      expect(ok).toHaveLength(1);
      expect(ok[0].json().user.role).toBe('admin');
      for (const r of res.filter((x) => x.statusCode !== 201)) {
        expect(r.statusCode).toBe(403);
        expect(r.json().code).toBe('registration_closed');
      }
      // no half-created accounts are left behind
      expect(await t.store.users.count()).toBe(1);
    });

    it('a later registration is refused', async () => {
      const r = await t.inject(registerReq('later@example.com'));
      expect(r.statusCode).toBe(403);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json()).toMatchObject({ status: 403, code: 'registration_closed' });
      expect(await t.store.users.byLogin('later@example.com')).toBeUndefined();
    });
  });

  describe('closed', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ backend, config: { auth: { registration: 'closed' } } });
    });
    afterAll(async () => t?.close());

    it('refuses even the first registration', async () => {
      const r = await t.inject(registerReq('first@example.com'));
      expect(r.statusCode).toBe(403);
      expect(r.json().code).toBe('registration_closed');
      expect(await t.store.users.count()).toBe(0);
    });
  });
});

describe('registration and login rules', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { auth: { registration: 'open' } } });
  });
  afterAll(async () => t?.close());

  it('register returns the user, an access token, a refresh token and the expiry', async () => {
    const r = await t.inject(registerReq('Owner@Example.com', { name: 'Owner', username: 'owner' }));
    expect(r.statusCode).toBe(201);
    const b = r.json();
    expect(b.user).toMatchObject({ email: 'Owner@Example.com', username: 'owner', name: 'Owner', role: 'admin', groups: [], disabled: false });
    expect(b.user.password).toBeUndefined();
    expect(b.user.passwordHash).toBeUndefined();
    expect(b.token.split('.')).toHaveLength(3);
    expect(b.refresh_token).toMatch(/^pcr_/);
    expect(Date.parse(b.expires_at)).toBeGreaterThan(Date.now());
  });

  it('a duplicate email (any case) is 409 conflict', async () => {
    const r = await t.inject(registerReq('OWNER@example.COM'));
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ status: 409, code: 'conflict' });
    expect(await t.store.users.count()).toBe(1);
  });

  it('a duplicate username is 409 conflict', async () => {
    const r = await t.inject(registerReq('someone@example.com', { username: 'OWNER' }));
    expect(r.statusCode).toBe(409);
    expect(r.json().code).toBe('conflict');
  });

  it.each([
    ['a bad email', { email: 'not-an-email', password: PASSWORD }, 'email'],
    ['a missing email', { password: PASSWORD }, 'email'],
    ['a short password', { email: 'x@example.com', password: 'short' }, 'password'],
    ['a non-string password', { email: 'x@example.com', password: 12345678 }, 'password'],
    ['an unknown field', { email: 'x@example.com', password: PASSWORD, role: 'admin' }, 'role'],
    ['a bad username', { email: 'x@example.com', password: PASSWORD, username: 'a b' }, 'username'],
  ])('%s is 422 validation_failed naming the field', async (_label, payload, field) => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload });
    expect(r.statusCode).toBe(422);
    const b = r.json();
    expect(b.code).toBe('validation_failed');
    expect(b.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await t.store.users.byLogin('x@example.com')).toBeUndefined();
  });

  it('a body that is not a JSON object is 422 (or 400 when not JSON at all)', async () => {
    const arr = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: [1, 2] as unknown as Record<string, unknown> });
    expect(arr.statusCode).toBe(422);
    expect(arr.json().code).toBe('validation_failed');
    const junk = await t.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': 'application/json' }, payload: '{"email":' });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().code).toBe('bad_request');
  });

  it('login works by email (any case) and by username', async () => {
    const byEmail = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'owner@EXAMPLE.com', password: PASSWORD } });
    expect(byEmail.statusCode).toBe(200);
    const byUsername = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'Owner', password: PASSWORD } });
    expect(byUsername.statusCode).toBe(200);
    expect(byUsername.json().user.id).toBe(byEmail.json().user.id);
    const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(byUsername.json().token) });
    expect(me.json()).toMatchObject({ email: 'Owner@Example.com', username: 'owner', role: 'admin' });
  });

  it('login with neither email nor username is 422', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { password: PASSWORD } });
    expect(r.statusCode).toBe(422);
    expect(r.json().errors[0].field).toBe('email');
  });
});
