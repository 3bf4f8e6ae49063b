import { afterEach, describe, expect, it } from 'vitest';
import { AUTH_BUCKETS, Metrics } from '../src/metrics/index.js';
import { presentedMethod } from '../src/metrics/instrument-auth.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';

const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});
async function start(config: Record<string, unknown> = {}): Promise<TestApp> {
  const t = await startTestApp({ config });
  apps.push(t);
  return t;
}

const sample = (body: string, prefix: string) => {
  const line = body.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('GET /metrics', () => {
  it('serves every contract series, with values that follow the traffic', async () => {
    const t = await start({ rate_limits: { per_ip: { requests: 50, per: '1h' } } });
    const admin = await register(t, 'm@example.com');
    const tok = (await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(admin.token), payload: { name: 'm', rate_limit_per_hour: 1 } })).json();
    await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(admin.token) });
    await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': tok.token } });
    await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': tok.token } }); // 429 (token budget 1/h)
    await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer('eyJhbGciOiJIUzI1NiJ9.e30.bad') });
    await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': 'pcl_not_a_real_token_at_all_0000000000' } });
    await t.inject({ method: 'GET', url: '/api/v1/auth/me' });
    await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'm@example.com', password: 'correct horse battery' } });
    await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'm@example.com', password: 'wrong-password' } });

    const r = await t.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = r.body;
    for (const name of [
      'portcullis_auth_success_total',
      'portcullis_auth_failure_total',
      'portcullis_auth_duration_seconds',
      'portcullis_mcp_requests_total',
      'portcullis_upstream_duration_seconds',
      'portcullis_rate_limited_total',
      'portcullis_audit_dropped_total',
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(body, name).toContain(`# TYPE ${name} `);
    // session JWT (token create + me) and API token twice (one then refused by its limit)
    expect(sample(body, 'portcullis_auth_success_total{method="session"}')).toBe(2);
    expect(sample(body, 'portcullis_auth_success_total{method="api_token"}')).toBe(2);
    expect(sample(body, 'portcullis_auth_failure_total{method="jwt",reason="invalid_token"}')).toBe(1);
    expect(sample(body, 'portcullis_auth_failure_total{method="api_token",reason="invalid_token"}')).toBe(1);
    expect(sample(body, 'portcullis_auth_failure_total{method="none",reason="unauthenticated"}')).toBe(1);
    // password logins count by method "password" (their argon2 time is not in the request-auth histogram)
    expect(sample(body, 'portcullis_auth_success_total{method="password"}')).toBe(1);
    expect(sample(body, 'portcullis_auth_failure_total{method="password",reason="invalid_credentials"}')).toBe(1);
    expect(sample(body, 'portcullis_auth_duration_seconds_count')).toBe(7);
    expect(body).toContain('portcullis_auth_duration_seconds_bucket{le="0.000025"}');
    expect(sample(body, 'portcullis_rate_limited_total{dimension="token"}')).toBe(1);
    expect(sample(body, 'portcullis_rate_limited_total{dimension="ip"}')).toBe(0);
    expect(sample(body, 'portcullis_audit_dropped_total')).toBe(0);
    // Never a credential in the output.
    expect(body).not.toContain(tok.token);
    expect(body).not.toContain(admin.token);
  });

  it('metrics.path moves it; metrics.enabled=false removes it', async () => {
    const moved = await start({ metrics: { path: '/internal/prom' } });
    expect((await moved.inject({ method: 'GET', url: '/internal/prom' })).statusCode).toBe(200);
    expect((await moved.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const off = await start({ metrics: { enabled: false } });
    expect((await off.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('metrics.require_auth needs an authenticated admin or viewer', async () => {
    const t = await start({ metrics: { require_auth: true } });
    const admin = await register(t, 'ra@example.com');
    const viewer = await register(t, 'rv@example.com');
    const user = await register(t, 'ru@example.com');
    expect((await t.inject({ method: 'PUT', url: `/api/v1/users/${viewer.user.id}`, headers: bearer(admin.token), payload: { role: 'viewer' } })).statusCode).toBe(200);
    const anon = await t.inject({ method: 'GET', url: '/metrics' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json().code).toBe('unauthenticated');
    expect(anon.body).not.toContain('portcullis_');
    const bad = await t.inject({ method: 'GET', url: '/metrics', headers: bearer('nope') });
    expect(bad.statusCode).toBe(401);
    const forbidden = await t.inject({ method: 'GET', url: '/metrics', headers: bearer(user.token) });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('forbidden');
    expect((await t.inject({ method: 'GET', url: '/metrics', headers: bearer(viewer.token) })).statusCode).toBe(200);
    const scraper = (await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(admin.token), payload: { name: 'prom', scopes: ['api:read'] } })).json();
    const ok = await t.inject({ method: 'GET', url: '/metrics', headers: bearer(scraper.token) });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('portcullis_auth_success_total');
    const mcpOnly = (await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(admin.token), payload: { name: 'mcp', scopes: ['mcp:read'] } })).json();
    expect((await t.inject({ method: 'GET', url: '/metrics', headers: bearer(mcpOnly.token) })).statusCode).toBe(403);
  });

  it('each app has its own registry', async () => {
    const a = await start();
    const b = await start();
    await register(a, 'one@example.com');
    await a.inject({ method: 'GET', url: '/api/v1/auth/me' });
    const ba = (await a.inject({ method: 'GET', url: '/metrics' })).body;
    const bb = (await b.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(ba, 'portcullis_auth_failure_total{method="none",reason="unauthenticated"}')).toBe(1);
    expect(sample(bb, 'portcullis_auth_failure_total{method="none",reason="unauthenticated"}')).toBeUndefined();
  });
});

describe('Metrics labels stay bounded', () => {
  it('unknown MCP methods are "other", a missing server is "unknown", servers are capped', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.mcpRequest('demo', 'tools/call', 'ok');
    m.mcpRequest('demo', 'x/'.repeat(50), 'ok');
    m.mcpRequest(null, 'tools/list', 'unauthenticated');
    for (let i = 0; i < 1100; i++) m.observeUpstream(`s${i}`, 0.01);
    const body = (await m.render()).body;
    expect(body).toContain('portcullis_mcp_requests_total{server="demo",method="tools/call",outcome="ok"} 1');
    expect(body).toContain('portcullis_mcp_requests_total{server="demo",method="other",outcome="ok"} 1');
    expect(body).toContain('portcullis_mcp_requests_total{server="unknown",method="tools/list",outcome="unauthenticated"} 1');
    expect(body).toContain('portcullis_upstream_duration_seconds_count{server="other"}');
    const servers = new Set([...body.matchAll(/portcullis_upstream_duration_seconds_count\{server="([^"]+)"\}/g)].map((x) => x[1]));
    expect(servers.size).toBeLessThanOrEqual(1001);
    m.close();
  });

  it('auth buckets start at 25 µs and end at 1 s', () => {
    expect(AUTH_BUCKETS[0]).toBe(0.000025);
    expect(AUTH_BUCKETS[AUTH_BUCKETS.length - 1]).toBe(1);
  });

  it('the failure method label is derived from the credential shape, never its value', () => {
    expect(presentedMethod({ authorization: ['Bearer pcl_abc'], apiKey: undefined, queryCredential: false })).toBe('api_token');
    expect(presentedMethod({ authorization: ['Bearer a.b.c'], apiKey: undefined, queryCredential: false })).toBe('jwt');
    expect(presentedMethod({ authorization: ['Bearer opaque'], apiKey: undefined, queryCredential: false })).toBe('bearer');
    expect(presentedMethod({ authorization: [], apiKey: 'pcl_x', queryCredential: false })).toBe('api_token');
    expect(presentedMethod({ authorization: [], apiKey: undefined, queryCredential: false, peerCertificate: { subject: 'CN=x', fingerprint256: 'AA' } })).toBe('mtls');
    expect(presentedMethod({ authorization: [], apiKey: undefined, queryCredential: true })).toBe('none');
  });
});
