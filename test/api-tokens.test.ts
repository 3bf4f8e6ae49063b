import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setClock } from '../src/lib/time.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';
import { clientCredentialsToken, createServiceAccount } from './helpers/service-accounts.js';

type Issued = { api_token: Record<string, any> & { id: string }; token: string };

describe.each(BACKENDS)('API tokens (%s)', (backend) => {
  let t: TestApp;
  let admin: { token: string; user: { id: string } };
  let alice: { token: string; user: { id: string } };
  let bob: { token: string; user: { id: string } };

  const create = async (auth: Record<string, string>, payload: Record<string, unknown>) =>
    t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: auth, payload });
  const issue = async (auth: Record<string, string>, payload: Record<string, unknown>): Promise<Issued> => {
    const r = await create(auth, payload);
    if (r.statusCode !== 201) throw new Error(`create failed: ${r.statusCode} ${r.body}`);
    return r.json();
  };
  const me = (headers: Record<string, string>) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
  const auditRows = async (action: string) => {
    await t.app.services.audit.flush();
    return t.store.db.kysely.selectFrom('audit_events').selectAll().where('action', '=', action).execute();
  };

  beforeAll(async () => {
    t = await startTestApp({ backend });
    admin = await register(t, 'admin@example.com');
    alice = await register(t, 'alice@example.com');
    bob = await register(t, 'bob@example.com');
  });
  afterAll(async () => t?.close());
  afterEach(() => setClock(null));

  it('creates a pcl_ token shown once, and accepts it as Bearer and as X-API-Key', async () => {
    const r = await create(bearer(alice.token), { name: 'laptop', scopes: ['mcp:execute', 'api:read'], servers: ['demo'], expires_in_days: 30, rate_limit_per_hour: 100 });
    expect(r.statusCode).toBe(201);
    const body = r.json() as Issued;
    expect(body.token).toMatch(/^pcl_[A-Za-z0-9_-]{43}$/);
    expect(body.api_token).toMatchObject({ name: 'laptop', scopes: ['mcp:execute', 'api:read'], servers: ['demo'], rate_limit_per_hour: 100, last_used_at: null, use_count: 0 });
    expect(body.token.startsWith(body.api_token.prefix)).toBe(true);
    expect(Date.parse(body.api_token.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);

    const viaBearer = await me(bearer(body.token));
    expect(viaBearer.statusCode).toBe(200);
    expect(viaBearer.json()).toMatchObject({ id: alice.user.id, auth: { method: 'api_token', token_id: body.api_token.id } });
    const viaKey = await me({ 'x-api-key': body.token });
    expect(viaKey.statusCode).toBe(200);
    expect(viaKey.json().id).toBe(alice.user.id);

    // never again: not in the list, not in the detail, not in the store
    const list = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(alice.token) });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(body.token);
    expect(list.json().tokens.map((x: { id: string }) => x.id)).toContain(body.api_token.id);
    const one = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens/${body.api_token.id}`, headers: bearer(alice.token) });
    expect(one.body).not.toContain(body.token);
    const row = await t.store.db.kysely.selectFrom('api_tokens').selectAll().where('id', '=', body.api_token.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(body.token);
    expect(row.token_hash).not.toBe(body.token);
  });

  it('a revoked token gets 401 on the next request, even when it was cached', async () => {
    const tok = await issue(bearer(alice.token), { name: 'to-revoke' });
    expect((await me(bearer(tok.token))).statusCode).toBe(200); // warm the cache
    expect((await me({ 'x-api-key': tok.token })).statusCode).toBe(200);
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(alice.token) });
    expect(del.statusCode).toBe(204);
    for (const h of [bearer(tok.token), { 'x-api-key': tok.token }]) {
      const r = await me(h);
      expect(r.statusCode).toBe(401);
      expect(r.json().code).toBe('invalid_token');
    }
    const again = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(alice.token) });
    expect(again.statusCode).toBe(404);
    const rows = await auditRows('token.revoke');
    expect(rows.some((e) => (e.detail ?? '').includes(tok.api_token.id))).toBe(true);
  });

  it('rotation returns a new secret for the same id; the old secret is dead at once', async () => {
    const tok = await issue(bearer(alice.token), { name: 'to-rotate', scopes: ['api:read', 'mcp:read'] });
    expect((await me(bearer(tok.token))).statusCode).toBe(200);
    const r = await t.inject({ method: 'POST', url: `/api/v1/auth/tokens/${tok.api_token.id}/rotate`, headers: bearer(alice.token) });
    expect(r.statusCode).toBe(200);
    const rotated = r.json() as Issued;
    expect(rotated.api_token.id).toBe(tok.api_token.id);
    expect(rotated.api_token.scopes).toEqual(['api:read', 'mcp:read']);
    expect(rotated.token).not.toBe(tok.token);
    const old = await me(bearer(tok.token));
    expect(old.statusCode).toBe(401);
    expect(old.json().code).toBe('invalid_token');
    expect((await me(bearer(rotated.token))).statusCode).toBe(200);
    const rows = await auditRows('token.rotate');
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(rotated.token);
  });

  it('an expired token gets 401 token_expired', async () => {
    const tok = await issue(bearer(alice.token), { name: 'short', expires_in_days: 1 });
    expect((await me(bearer(tok.token))).statusCode).toBe(200);
    const start = Date.now();
    setClock(() => start + 86_400_000 + 1_000);
    const r = await me(bearer(tok.token));
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('token_expired');
    setClock(null);
    const list = (await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(alice.token) })).json().tokens;
    expect(list.find((x: { id: string }) => x.id === tok.api_token.id).expired).toBe(false);
  });

  it('a token with only api:read can read but cannot POST (403 insufficient_scope)', async () => {
    const ro = await issue(bearer(alice.token), { name: 'read-only', scopes: ['api:read'] });
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(ro.token) })).statusCode).toBe(200);
    const r = await create(bearer(ro.token), { name: 'escalate' });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('insufficient_scope');
    expect(r.headers['www-authenticate']).toContain('insufficient_scope');
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${ro.api_token.id}`, headers: bearer(ro.token) });
    expect(del.statusCode).toBe(403);
    // an mcp-only token cannot use the management API at all
    const mcp = await issue(bearer(alice.token), { name: 'mcp-only', scopes: ['mcp:execute'] });
    const l = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(mcp.token) });
    expect(l.statusCode).toBe(403);
    expect(l.json().code).toBe('insufficient_scope');
  });

  it('the admin scope is grantable only by an admin', async () => {
    const r = await create(bearer(alice.token), { name: 'sneaky', scopes: ['admin'] });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('scope_not_grantable');
    const ok = await create(bearer(admin.token), { name: 'admin-ops', scopes: ['admin', 'api:write'] });
    expect(ok.statusCode).toBe(201);
    // an admin token without the admin scope cannot act as admin
    const noAdmin = await issue(bearer(admin.token), { name: 'plain', scopes: ['api:write'] });
    const users = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(noAdmin.token), payload: { email: 'x@example.com', password: 'long enough pw' } });
    expect(users.statusCode).toBe(403);
    expect(users.json().code).toBe('insufficient_scope');
    const grant = await create(bearer(noAdmin.token), { name: 'more', scopes: ['admin'] });
    expect(grant.statusCode).toBe(403);
    expect(grant.json().code).toBe('scope_not_grantable');
  });

  it('a scoped credential grants at most its own scopes, servers and rate limit; omitted fields inherit them', async () => {
    const parent = await issue(bearer(alice.token), { name: 'parent', scopes: ['api:write', 'mcp:read'], servers: ['demo', 'files'], rate_limit_per_hour: 50 });
    const wider = await create(bearer(parent.token), { name: 'child', scopes: ['mcp:execute'] });
    expect(wider.statusCode).toBe(403);
    expect(wider.json().code).toBe('scope_not_grantable');
    const otherServer = await create(bearer(parent.token), { name: 'child', servers: ['secret'] });
    expect(otherServer.statusCode).toBe(403);
    expect(otherServer.json().code).toBe('scope_not_grantable');
    const faster = await create(bearer(parent.token), { name: 'child', rate_limit_per_hour: 500 });
    expect(faster.statusCode).toBe(403);
    expect(faster.json().code).toBe('scope_not_grantable');

    const child = await issue(bearer(parent.token), { name: 'child', scopes: ['api:read'], servers: ['demo'] });
    expect(child.api_token).toMatchObject({ scopes: ['api:read'], servers: ['demo'], rate_limit_per_hour: 50 });
    const inherit = await issue(bearer(parent.token), { name: 'inherit' });
    expect(inherit.api_token).toMatchObject({ scopes: ['api:write', 'mcp:read'], servers: ['demo', 'files'], rate_limit_per_hour: 50 });

    // a restricted credential cannot rotate a stronger token to obtain its secret
    const strong = await issue(bearer(alice.token), { name: 'strong' });
    const rot = await t.inject({ method: 'POST', url: `/api/v1/auth/tokens/${strong.api_token.id}/rotate`, headers: bearer(parent.token) });
    expect(rot.statusCode).toBe(403);
    expect(rot.json().code).toBe('scope_not_grantable');
    expect((await me(bearer(strong.token))).statusCode).toBe(200);
  });

  it('PATCH narrows only; narrowing applies to the next request', async () => {
    const tok = await issue(bearer(alice.token), { name: 'narrow-me', scopes: ['api:write', 'mcp:execute'], servers: ['demo', 'files'], rate_limit_per_hour: 100 });
    const patch = (payload: Record<string, unknown>, auth = bearer(alice.token)) =>
      t.inject({ method: 'PATCH', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: auth, payload });

    // it can write before
    expect((await create(bearer(tok.token), { name: 'probe', scopes: ['api:read'] })).statusCode).toBe(201);

    const narrowed = await patch({ name: 'narrowed', scopes: ['api:read', 'mcp:read'], servers: ['demo'], rate_limit_per_hour: 10 });
    expect(narrowed.statusCode).toBe(200);
    expect(narrowed.json()).toMatchObject({ name: 'narrowed', scopes: ['api:read', 'mcp:read'], servers: ['demo'], rate_limit_per_hour: 10 });

    const after = await create(bearer(tok.token), { name: 'probe2' });
    expect(after.statusCode).toBe(403);
    expect(after.json().code).toBe('insufficient_scope');

    for (const body of [{ scopes: ['api:write'] }, { scopes: ['mcp:execute'] }, { servers: ['demo', 'files'] }, { rate_limit_per_hour: 11 }, { rate_limit_per_hour: null }]) {
      const r = await patch(body);
      expect(r.statusCode, JSON.stringify(body)).toBe(403);
      expect(r.json().code).toBe('token_widening');
    }
    // an admin may raise the rate limit, but not widen scopes either
    const raise = await patch({ rate_limit_per_hour: 1000 }, bearer(admin.token));
    expect(raise.statusCode).toBe(200);
    expect(raise.json().rate_limit_per_hour).toBe(1000);
    const adminWiden = await patch({ scopes: ['api:write'] }, bearer(admin.token));
    expect(adminWiden.statusCode).toBe(403);
    expect(adminWiden.json().code).toBe('token_widening');

    const bad = await patch({ name: '' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toBe('name');
    expect((await auditRows('token.update')).length).toBeGreaterThan(0);
  });

  it("other users' tokens are 404 (not 403); admins may manage and list them", async () => {
    const tok = await issue(bearer(alice.token), { name: 'alice-only' });
    for (const [method, url] of [
      ['GET', `/api/v1/auth/tokens/${tok.api_token.id}`],
      ['PATCH', `/api/v1/auth/tokens/${tok.api_token.id}`],
      ['DELETE', `/api/v1/auth/tokens/${tok.api_token.id}`],
      ['POST', `/api/v1/auth/tokens/${tok.api_token.id}/rotate`],
      ['GET', `/api/v1/auth/tokens/00000000-0000-0000-0000-000000000000`],
    ] as const) {
      const r = await t.inject({ method, url, headers: bearer(bob.token), ...(method === 'PATCH' ? { payload: { name: 'mine' } } : {}) });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json().code).toBe('not_found');
    }
    expect((await me(bearer(tok.token))).statusCode).toBe(200);

    const bobList = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(bob.token) });
    expect(bobList.json().tokens).toEqual([]);
    const peek = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens?user_id=${alice.user.id}`, headers: bearer(bob.token) });
    expect(peek.statusCode).toBe(403);
    expect(peek.json().code).toBe('forbidden');
    const all = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens?all=true', headers: bearer(bob.token) });
    expect(all.statusCode).toBe(403);

    const adminGet = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(admin.token) });
    expect(adminGet.statusCode).toBe(200);
    expect(adminGet.json().owner_id).toBe(alice.user.id);
    const adminList = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens?user_id=${alice.user.id}`, headers: bearer(admin.token) });
    expect(adminList.json().tokens.every((x: { owner_id: string }) => x.owner_id === alice.user.id)).toBe(true);
    expect(adminList.json().tokens.length).toBeGreaterThan(1);
    const adminAll = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens?all=true', headers: bearer(admin.token) });
    expect(adminAll.json().tokens.length).toBeGreaterThanOrEqual(adminList.json().tokens.length);
    const adminDel = await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(admin.token) });
    expect(adminDel.statusCode).toBe(204);
    expect((await me(bearer(tok.token))).statusCode).toBe(401);
  });

  it('GET one reports use_count, last_used_at and per-server counts', async () => {
    const tok = await issue(bearer(alice.token), { name: 'counted' });
    for (let i = 0; i < 3; i++) expect((await me({ 'x-api-key': tok.token })).statusCode).toBe(200);
    // the MCP proxy records per-server use the same way
    t.app.services.usage.record(tok.api_token.id, 'demo');
    t.app.services.usage.record(tok.api_token.id, 'demo');
    t.app.services.usage.record(tok.api_token.id, 'files');
    const r = await t.inject({ method: 'GET', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(alice.token) });
    expect(r.statusCode).toBe(200);
    const d = r.json();
    expect(d.use_count).toBe(6);
    expect(d.last_used_at).not.toBeNull();
    expect(d.usage_by_server).toEqual({ demo: 2, files: 1 });
  });

  it('validate describes the presented token; a bad one gets 401', async () => {
    const tok = await issue(bearer(alice.token), { name: 'validate-me', scopes: ['mcp:read'], expires_in_days: 7 });
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: bearer(tok.token) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      valid: true,
      principal: { id: alice.user.id, type: 'user', email: 'alice@example.com', role: 'user', groups: [] },
      scopes: ['mcp:read'],
      expires_at: tok.api_token.expires_at,
      token_id: tok.api_token.id,
    });
    const viaKey = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: { 'x-api-key': tok.token } });
    expect(viaKey.statusCode).toBe(200);
    const bad = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: bearer(tok.token.slice(0, -2) + 'xx') });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().code).toBe('invalid_token');
    const none = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate' });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('unauthenticated');
  });

  it('rejects invalid bodies with 422 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(101) }, 'name'],
      [{ name: 'ok', scopes: ['mcp:everything'] }, 'scopes[0]'],
      [{ name: 'ok', expires_in_days: 0 }, 'expires_in_days'],
      [{ name: 'ok', expires_in_days: 3651 }, 'expires_in_days'],
      [{ name: 'ok', rate_limit_per_hour: 0 }, 'rate_limit_per_hour'],
      [{ name: 'ok', rate_limit_per_hour: 1.5 }, 'rate_limit_per_hour'],
      [{ name: 'ok', servers: ['Bad Name'] }, 'servers[0]'],
      [{ name: 'ok', owner: 'someone' }, 'owner'],
    ];
    for (const [payload, field] of cases) {
      const r = await create(bearer(alice.token), payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(422);
      expect(r.json().code).toBe('validation_failed');
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
  });

  it('audits token.create without the secret', async () => {
    const tok = await issue(bearer(bob.token), { name: 'audited' });
    const rows = await auditRows('token.create');
    const mine = rows.filter((e) => e.actor === bob.user.id);
    expect(mine.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(tok.token);
    expect(t.logs.join('')).not.toContain(tok.token);
  });
});

describe('API tokens and the configured per-token default rate', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { rate_limits: { per_token: { default_per_hour: 1000 } } } });
  });
  afterAll(async () => t?.close());

  it('non-admins cannot give a token more than the default; admins can', async () => {
    const admin = await register(t, 'admin@example.com');
    const user = await register(t, 'user@example.com');
    const post = (auth: Record<string, string>, payload: Record<string, unknown>) => t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: auth, payload });
    const over = await post(bearer(user.token), { name: 'fast', rate_limit_per_hour: 2000 });
    expect(over.statusCode).toBe(403);
    expect(over.json().code).toBe('scope_not_grantable');
    expect((await post(bearer(user.token), { name: 'slow', rate_limit_per_hour: 500 })).statusCode).toBe(201);
    expect((await post(bearer(admin.token), { name: 'fast', rate_limit_per_hour: 2000 })).statusCode).toBe(201);

    const dflt = (await post(bearer(user.token), { name: 'default' })).json();
    const patch = (rate: number, auth = bearer(user.token)) =>
      t.inject({ method: 'PATCH', url: `/api/v1/auth/tokens/${dflt.api_token.id}`, headers: auth, payload: { rate_limit_per_hour: rate } });
    const raise = await patch(2000);
    expect(raise.statusCode).toBe(403);
    expect(raise.json().code).toBe('token_widening');
    expect((await patch(1000)).statusCode).toBe(200);
    expect((await patch(2000, bearer(admin.token))).statusCode).toBe(200);
  });
});

describe('API tokens held by service accounts and external identities', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      config: { auth: { providers: [{ type: 'static', name: 'dev', tokens: [{ name: 'ci-bot', token_env: 'CI_BOT_TOKEN', role: 'user', groups: ['ci'] }] }] } },
      env: { CI_BOT_TOKEN: 'static-ci-bot-token-0123456789abcdef' },
    });
  });
  afterAll(async () => t?.close());

  it('a service account creates, uses, lists and revokes its own API token', async () => {
    const admin = await register(t, 'admin@example.com');
    const sa = await createServiceAccount(t, admin.token, { name: 'robot', groups: ['bots'] });
    const access = await clientCredentialsToken(t, sa.client_id, sa.client_secret);
    const made = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(access), payload: { name: 'robot-key', scopes: ['mcp:read', 'api:write'] } });
    expect(made.statusCode).toBe(201);
    const { api_token, token } = made.json() as Issued;
    expect(api_token).toMatchObject({ owner_type: 'service_account', owner_id: sa.client_id });
    const v = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: { 'x-api-key': token } });
    expect(v.statusCode).toBe(200);
    expect(v.json().principal).toMatchObject({ id: `sa:${sa.client_id}`, type: 'service_account', groups: ['bots'] });
    const list = await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(token) });
    expect(list.json().tokens.map((x: { id: string }) => x.id)).toEqual([api_token.id]);
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${api_token.id}`, headers: bearer(access) });
    expect(del.statusCode).toBe(204);
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: { 'x-api-key': token } })).statusCode).toBe(401);
  });

  it('an external identity cannot hold API tokens (403 forbidden) but can validate its credential', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer('static-ci-bot-token-0123456789abcdef'), payload: { name: 'x' } });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('forbidden');
    const v = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens/validate', headers: bearer('static-ci-bot-token-0123456789abcdef') });
    expect(v.statusCode).toBe(200);
    expect(v.json()).toMatchObject({ valid: true, method: 'static', principal: { type: 'external', groups: ['ci'] } });
  });
});
