import { afterEach, describe, expect, it } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from '../helpers/app.js';

const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});

async function start(rateLimits: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestApp> {
  const t = await startTestApp({ config: { rate_limits: rateLimits, ...extra } });
  apps.push(t);
  return t;
}

const me = (t: TestApp, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1') =>
  t.inject({ method: 'GET', url: '/api/v1/auth/me', headers, remoteAddress });

async function createToken(t: TestApp, session: string, body: Record<string, unknown>) {
  const r = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(session), payload: body });
  expect(r.statusCode, r.body).toBe(201);
  return r.json() as { api_token: { id: string }; token: string };
}

async function auditRows(t: TestApp, action: string) {
  await t.app.services.audit.flush();
  return t.store.audit.query({ actions: [action], limit: 1000 });
}

async function metricValue(t: TestApp, line: RegExp): Promise<number> {
  const body = (await t.app.services.metrics.render()).body;
  const m = body.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : NaN;
}

function expectRateLimitedProblem(r: Awaited<ReturnType<TestApp['inject']>>, limit: number) {
  expect(r.statusCode).toBe(429);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = r.json();
  expect(body.code).toBe('rate_limited');
  expect(body.status).toBe(429);
  const retry = Number(r.headers['retry-after']);
  expect(Number.isInteger(retry) && retry >= 1).toBe(true);
  expect(r.headers['ratelimit-limit']).toBe(String(limit));
  expect(r.headers['ratelimit-remaining']).toBe('0');
  expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
}

describe('rate limits per dimension', () => {
  it('per API token: rate_limit_per_hour is enforced per token, with RateLimit-* headers on every response', async () => {
    const t = await start({});
    const admin = await register(t, 'tok@example.com');
    const limited = await createToken(t, admin.token, { name: 'limited', rate_limit_per_hour: 3 });
    const other = await createToken(t, admin.token, { name: 'other', rate_limit_per_hour: 3 });
    for (let i = 0; i < 3; i++) {
      const r = await me(t, { 'x-api-key': limited.token });
      expect(r.statusCode).toBe(200);
      expect(r.headers['ratelimit-limit']).toBe('3');
      expect(r.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    const refused = await me(t, { 'x-api-key': limited.token });
    expectRateLimitedProblem(refused, 3);
    expect(refused.json().detail).not.toContain(limited.token);
    // A second token of the same user has its own budget; the session is not token-limited.
    expect((await me(t, { 'x-api-key': other.token })).statusCode).toBe(200);
    expect((await me(t, bearer(admin.token))).statusCode).toBe(200);

    const hits = await auditRows(t, 'rate_limit.hit');
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ actor: admin.user.id, tokenId: limited.api_token.id, status: 429, detail: { dimension: 'token', limit: 3 } });
    expect(await metricValue(t, /^portcullis_rate_limited_total\{dimension="token"\}/)).toBe(1);
  });

  it('per API token: rate_limits.per_token.default_per_hour applies to tokens without their own limit', async () => {
    const t = await start({ per_token: { default_per_hour: 2 } });
    const admin = await register(t, 'deftok@example.com');
    const plain = await createToken(t, admin.token, { name: 'plain' });
    const own = await createToken(t, admin.token, { name: 'own', rate_limit_per_hour: 5 });
    expect((await me(t, { 'x-api-key': plain.token })).statusCode).toBe(200);
    expect((await me(t, { 'x-api-key': plain.token })).statusCode).toBe(200);
    expectRateLimitedProblem(await me(t, { 'x-api-key': plain.token }), 2);
    for (let i = 0; i < 5; i++) expect((await me(t, { 'x-api-key': own.token })).statusCode).toBe(200);
    expect((await me(t, { 'x-api-key': own.token })).statusCode).toBe(429);
  });

  it('per user: every credential of one user shares the budget; other users are unaffected', async () => {
    const t = await start({ per_user: { requests: 3, per: '1h' } });
    const a = await register(t, 'ua@example.com');
    const b = await register(t, 'ub@example.com');
    const tok = await createToken(t, a.token, { name: 'a-token' }); // 1st request of a
    expect((await me(t, bearer(a.token))).statusCode).toBe(200); // 2nd
    expect((await me(t, { 'x-api-key': tok.token })).statusCode).toBe(200); // 3rd, via the token
    const refused = await me(t, bearer(a.token));
    expectRateLimitedProblem(refused, 3);
    expect((await me(t, bearer(b.token))).statusCode).toBe(200);
    const hits = await auditRows(t, 'rate_limit.hit');
    expect(hits.map((h) => [h.actor, h.detail?.dimension])).toEqual([[a.user.id, 'user']]);
  });

  it('per group: members share the group budget; a principal in several limited groups is checked against each', async () => {
    const t = await start(
      { per_group: { eng: { requests: 3, per: '1h' }, ops: { requests: 100, per: '1h' }, tiny: { requests: 1, per: '1h' } } },
      { groups: [{ name: 'eng' }, { name: 'ops' }, { name: 'tiny' }, { name: 'free' }] },
    );
    const admin = await register(t, 'gadmin@example.com');
    const u1 = await register(t, 'g1@example.com');
    const u2 = await register(t, 'g2@example.com');
    const u3 = await register(t, 'g3@example.com');
    const setGroups = async (id: string, groups: string[]) => {
      const r = await t.inject({ method: 'PUT', url: `/api/v1/users/${id}`, headers: bearer(admin.token), payload: { groups } });
      expect(r.statusCode, r.body).toBe(200);
    };
    await setGroups(u1.user.id, ['eng', 'ops']);
    await setGroups(u2.user.id, ['eng']);
    await setGroups(u3.user.id, ['ops', 'tiny']);

    expect((await me(t, bearer(u1.token))).statusCode).toBe(200);
    expect((await me(t, bearer(u2.token))).statusCode).toBe(200);
    expect((await me(t, bearer(u1.token))).statusCode).toBe(200);
    const refused = await me(t, bearer(u2.token)); // 4th request of group eng
    expectRateLimitedProblem(refused, 3);
    expect(refused.json().detail).toContain('group eng');
    // u3 is in ops (plenty left) and tiny (1/h): the tiny budget decides.
    expect((await me(t, bearer(u3.token))).statusCode).toBe(200);
    expectRateLimitedProblem(await me(t, bearer(u3.token)), 1);
    // Not in any limited group: unlimited.
    for (let i = 0; i < 5; i++) expect((await me(t, bearer(admin.token))).statusCode).toBe(200);

    const hits = await auditRows(t, 'rate_limit.hit');
    expect(hits.map((h) => h.detail?.group).sort()).toEqual(['eng', 'tiny']);
    expect(await metricValue(t, /^portcullis_rate_limited_total\{dimension="group"\}/)).toBe(2);
  });

  it('per client IP: counted before authentication, per address (IPv4 and IPv6)', async () => {
    const t = await start({ per_ip: { requests: 2, per: '1h' } });
    expect((await me(t, {}, '192.0.2.10')).statusCode).toBe(401);
    expect((await me(t, {}, '192.0.2.10')).statusCode).toBe(401);
    const refused = await me(t, {}, '192.0.2.10');
    expectRateLimitedProblem(refused, 2);
    expect((await me(t, {}, '192.0.2.11')).statusCode).toBe(401);
    expect((await me(t, {}, '2001:db8::1')).statusCode).toBe(401);
    expect((await me(t, {}, '2001:db8::1')).statusCode).toBe(401);
    expect((await me(t, {}, '2001:db8::1')).statusCode).toBe(429);
    // Health, metrics and discovery are not limited.
    expect((await t.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.10' })).statusCode).toBe(200);
    const hits = await auditRows(t, 'rate_limit.hit');
    expect(hits.map((h) => [h.ip, h.actorType, h.detail?.dimension]).sort()).toEqual([
      ['192.0.2.10', 'anonymous', 'ip'],
      ['2001:db8::1', 'anonymous', 'ip'],
    ]);
  });

  it('global: one budget for every client together', async () => {
    const t = await start({ global: { requests: 3, per: '1h' } });
    expect((await me(t, {}, '198.51.100.1')).statusCode).toBe(401);
    expect((await me(t, {}, '198.51.100.2')).statusCode).toBe(401);
    expect((await me(t, {}, '198.51.100.3')).statusCode).toBe(401);
    expectRateLimitedProblem(await me(t, {}, '198.51.100.4'), 3);
    expect(await metricValue(t, /^portcullis_rate_limited_total\{dimension="global"\}/)).toBe(1);
  });

  it('exempt CIDRs (IPv4 and IPv6) skip every limit; other addresses do not', async () => {
    const t = await start({ per_ip: { requests: 1, per: '1h' }, per_user: { requests: 1, per: '1h' }, exempt: ['10.20.0.0/16', 'fd00:abcd::/32'] });
    const u = await register(t, 'ex@example.com', 'correct horse battery'); // from 127.0.0.1: uses its one IP request
    for (let i = 0; i < 4; i++) {
      expect((await me(t, bearer(u.token), '10.20.3.4')).statusCode).toBe(200);
      expect((await me(t, bearer(u.token), 'fd00:abcd::7')).statusCode).toBe(200);
      expect((await me(t, bearer(u.token), '::ffff:10.20.9.9')).statusCode).toBe(200);
    }
    expect((await me(t, bearer(u.token), '10.21.0.1')).statusCode).toBe(200); // 1st for this IP and the user's 1st outside the list
    expect((await me(t, bearer(u.token), '10.21.0.1')).statusCode).toBe(429);
    expect((await me(t, bearer(u.token), '127.0.0.1')).statusCode).toBe(429);
    const userHit = await me(t, bearer(u.token), '10.22.0.1'); // new address, but the user's budget is spent
    expect(userHit.statusCode).toBe(429);
    expect(userHit.json().detail).toContain('user');
  });

  it('limits apply to management requests of every kind, and a spent budget refuses before authentication runs', async () => {
    const t = await start({ per_ip: { requests: 1, per: '1h' } });
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'x@example.com', password: 'whatever-pass' }, remoteAddress: '203.0.113.9' })).statusCode).toBe(401);
    expect(await metricValue(t, /^portcullis_auth_duration_seconds_count /)).toBe(0);
    const r = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer('not-a-real-token'), remoteAddress: '203.0.113.9' });
    expectRateLimitedProblem(r, 1);
    // The credential was never looked at.
    expect(await metricValue(t, /^portcullis_auth_duration_seconds_count /)).toBe(0);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer('not-a-real-token'), remoteAddress: '203.0.113.10' })).statusCode).toBe(401);
    expect(await metricValue(t, /^portcullis_auth_duration_seconds_count /)).toBe(1);
  });

  it('on /mcp a refused request gets HTTP 429 with a JSON-RPC error body (-32029)', async () => {
    const t = await start({ per_ip: { requests: 1, per: '1h' } });
    const send = () =>
      t.inject({
        method: 'POST',
        url: '/mcp/demo',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        remoteAddress: '192.0.2.77',
      });
    await send();
    const r = await send();
    expect(r.statusCode).toBe(429);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.headers['retry-after']).toMatch(/^\d+$/);
    expect(r.headers['ratelimit-limit']).toBe('1');
    expect(r.headers['ratelimit-remaining']).toBe('0');
    const body = r.json();
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32029, data: { code: 'rate_limited' } } });
    const hits = await auditRows(t, 'rate_limit.hit');
    expect(hits[0]).toMatchObject({ server: 'demo', ip: '192.0.2.77' });
  });
});
