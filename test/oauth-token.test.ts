import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRequestedScopes } from '../src/auth/service-accounts.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { basicAuth, createServiceAccount, tokenRequest, type CreatedServiceAccount } from './helpers/service-accounts.js';

/** RFC 6749 §5.2 error: status, body, and no caching. */
function expectOAuthError(r: Awaited<ReturnType<TestApp['inject']>>, status: number, error: string) {
  expect(r.statusCode, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.headers['cache-control']).toBe('no-store');
  const b = r.json();
  expect(b.error).toBe(error);
  expect(typeof b.error_description).toBe('string');
  expect(Object.keys(b).sort()).toEqual(['error', 'error_description']);
}

describe('POST /oauth/token (client_credentials)', () => {
  let t: TestApp;
  let sa: CreatedServiceAccount;

  beforeAll(async () => {
    t = await startTestApp({ config: { auth: { access_token_ttl: '5m', login_throttle: { per_account: { requests: 3, per: '15m' } } } } });
    const admin = (await register(t, 'admin@example.com')).token;
    sa = await createServiceAccount(t, admin, { name: 'batch', groups: ['ci'] });
  });
  afterAll(async () => t.close());

  const cc = { grant_type: 'client_credentials' };

  it('client_secret_basic: issues a short-lived Bearer JWT for the account', async () => {
    const r = await tokenRequest(t, cc, basicAuth(sa.client_id, sa.client_secret));
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers.pragma).toBe('no-cache');
    const b = r.json();
    expect(b).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 300, scope: 'mcp:read mcp:execute api:read api:write' });
    expect(decodeProtectedHeader(b.access_token)).toMatchObject({ typ: 'at+jwt' });
    const claims = decodeJwt(b.access_token);
    expect(claims).toMatchObject({ pct: 'sa', sub: sa.client_id, client_id: sa.client_id, iss: t.config.server.public_url, aud: t.config.server.public_url, groups: ['ci'] });
    expect(claims.exp! - claims.iat!).toBe(300);
    expect(typeof claims.jti).toBe('string');
  });

  it('client_secret_post works too', async () => {
    const r = await tokenRequest(t, { ...cc, client_id: sa.client_id, client_secret: sa.client_secret });
    expect(r.statusCode).toBe(200);
  });

  it('a narrower scope is granted with its implications, and limits the token', async () => {
    const r = await tokenRequest(t, { ...cc, scope: 'mcp:execute' }, basicAuth(sa.client_id, sa.client_secret));
    expect(r.statusCode).toBe(200);
    expect(r.json().scope).toBe('mcp:read mcp:execute');
    const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(r.json().access_token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().auth.scopes).toEqual(['mcp:read', 'mcp:execute']);
  });

  it('admin and unknown scopes are invalid_scope', async () => {
    expectOAuthError(await tokenRequest(t, { ...cc, scope: 'mcp:read admin' }, basicAuth(sa.client_id, sa.client_secret)), 400, 'invalid_scope');
    expectOAuthError(await tokenRequest(t, { ...cc, scope: 'openid' }, basicAuth(sa.client_id, sa.client_secret)), 400, 'invalid_scope');
    expect(() => parseRequestedScopes('mcp:read\u0000')).toThrow();
  });

  it('client authentication is counted in the auth metrics (method client_secret)', async () => {
    const sample = async (series: string) => {
      const body = (await t.app.services.metrics.render()).body;
      const line = body.split('\n').find((l) => l.startsWith(series + ' '));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const ok0 = await sample('portcullis_auth_success_total{method="client_secret"}');
    const bad0 = await sample('portcullis_auth_failure_total{method="client_secret",reason="invalid_client"}');
    expect((await tokenRequest(t, cc, basicAuth(sa.client_id, sa.client_secret))).statusCode).toBe(200);
    // (another client id, so this account's failure budget stays as the tests below expect)
    expectOAuthError(await tokenRequest(t, cc, basicAuth('sa_00000000000000000000metrics', 'pcs_wrong')), 401, 'invalid_client');
    expect(await sample('portcullis_auth_success_total{method="client_secret"}')).toBe(ok0 + 1);
    expect(await sample('portcullis_auth_failure_total{method="client_secret",reason="invalid_client"}')).toBe(bad0 + 1);
  });

  it('a wrong secret is invalid_client 401 with a Basic challenge', async () => {
    const r = await tokenRequest(t, cc, basicAuth(sa.client_id, 'pcs_wrong'));
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm="portcullis"/);
    const post = await tokenRequest(t, { ...cc, client_id: sa.client_id, client_secret: 'pcs_wrong' });
    expectOAuthError(post, 401, 'invalid_client');
  });

  it('an unknown client gets exactly the wrong-secret answer', async () => {
    const unknown = await tokenRequest(t, cc, basicAuth('sa_0123456789abcdef01234567', 'pcs_whatever'));
    const malformed = await tokenRequest(t, cc, basicAuth('not-a-client', 'x'));
    const wrong = await tokenRequest(t, cc, basicAuth(sa.client_id, 'pcs_nope'));
    for (const r of [unknown, malformed]) {
      expectOAuthError(r, 401, 'invalid_client');
      expect(r.json()).toEqual(wrong.json());
    }
  });

  it('no client authentication at all is invalid_client', async () => {
    expectOAuthError(await tokenRequest(t, cc), 401, 'invalid_client');
    expectOAuthError(await tokenRequest(t, { ...cc, client_id: sa.client_id }), 401, 'invalid_client');
  });

  it('two client authentication methods at once are invalid_request', async () => {
    const r = await tokenRequest(t, { ...cc, client_secret: sa.client_secret }, basicAuth(sa.client_id, sa.client_secret));
    expectOAuthError(r, 400, 'invalid_request');
    const mismatch = await tokenRequest(t, { ...cc, client_id: 'sa_ffffffffffffffffffffffff' }, basicAuth(sa.client_id, sa.client_secret));
    expectOAuthError(mismatch, 400, 'invalid_request');
  });

  it('grant_type: missing is invalid_request, others are unsupported_grant_type', async () => {
    expectOAuthError(await tokenRequest(t, {}, basicAuth(sa.client_id, sa.client_secret)), 400, 'invalid_request');
    for (const g of ['password', 'toString', '__proto__'])
      expectOAuthError(await tokenRequest(t, { grant_type: g }, basicAuth(sa.client_id, sa.client_secret)), 400, 'unsupported_grant_type');
  });

  it('authorization_code and refresh_token belong to the authorization server: a service account is not one of its clients', async () => {
    for (const g of ['authorization_code', 'refresh_token']) {
      const r = await tokenRequest(t, { grant_type: g, code: 'x', refresh_token: 'x', redirect_uri: 'https://a.example/cb' }, basicAuth(sa.client_id, sa.client_secret));
      expect(r.statusCode, r.body).toBe(401);
      expect(r.json().error).toBe('invalid_client');
    }
  });

  it('repeated parameters are invalid_request', async () => {
    const r = await t.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basicAuth(sa.client_id, sa.client_secret) },
      payload: 'grant_type=client_credentials&grant_type=client_credentials',
    });
    expectOAuthError(r, 400, 'invalid_request');
  });

  it('only form bodies are accepted', async () => {
    const json = await t.inject({ method: 'POST', url: '/oauth/token', headers: basicAuth(sa.client_id, sa.client_secret), payload: { grant_type: 'client_credentials' } });
    expectOAuthError(json, 400, 'invalid_request');
    const text = await t.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'text/plain', ...basicAuth(sa.client_id, sa.client_secret) }, payload: 'grant_type=client_credentials' });
    expectOAuthError(text, 400, 'invalid_request');
    const none = await t.inject({ method: 'POST', url: '/oauth/token', headers: basicAuth(sa.client_id, sa.client_secret) });
    expectOAuthError(none, 400, 'invalid_request');
    const big = await t.inject({
      method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials&pad=' + 'x'.repeat(70_000),
    });
    expectOAuthError(big, 400, 'invalid_request');
  });

  it('malformed Basic credentials and other schemes are invalid_client with a challenge', async () => {
    for (const authorization of ['Basic !!!', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Bearer abc', 'Basic ' + Buffer.from('%zz:x').toString('base64')]) {
      const r = await tokenRequest(t, cc, { authorization });
      expectOAuthError(r, 401, 'invalid_client');
      expect(r.headers['www-authenticate']).toMatch(/^Basic /);
    }
  });

  it('failed client authentications are throttled per client_id, then even the right secret waits', async () => {
    const admin = (await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: 'correct horse battery' } })).json().token;
    const victim = await createServiceAccount(t, admin, { name: 'throttled', groups: [] });
    for (let i = 0; i < 3; i++) expectOAuthError(await tokenRequest(t, cc, basicAuth(victim.client_id, `pcs_guess${i}`)), 401, 'invalid_client');
    const blocked = await tokenRequest(t, cc, basicAuth(victim.client_id, victim.client_secret));
    expectOAuthError(blocked, 429, 'temporarily_unavailable');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // another client (same address) is unaffected
    const other = await createServiceAccount(t, admin, { name: 'bystander', groups: [] });
    expect((await tokenRequest(t, cc, basicAuth(other.client_id, other.client_secret))).statusCode).toBe(200);
  });

  it('the authorization-server metadata advertises the token endpoint and its client authentication methods', async () => {
    const r = await t.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    expect(r.statusCode).toBe(200);
    const m = r.json();
    const base = t.config.server.public_url;
    expect(m.issuer).toBe(base);
    expect(m.token_endpoint).toBe(`${base}/oauth/token`);
    expect(m.grant_types_supported).toContain('client_credentials');
    expect(m.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
    expect(m.scopes_supported).toEqual(expect.arrayContaining(['mcp:read', 'mcp:execute', 'api:read', 'api:write']));
  });
});

describe('POST /oauth/token with the authorization server turned off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { auth: { authorization_server: { enabled: false } } } });
  });
  afterAll(async () => t.close());

  it('authorization_code and refresh_token are unsupported_grant_type; the metadata offers client_credentials only', async () => {
    for (const g of ['authorization_code', 'refresh_token']) expectOAuthError(await tokenRequest(t, { grant_type: g }), 400, 'unsupported_grant_type');
    const m = (await t.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json();
    expect(m.grant_types_supported).toEqual(['client_credentials']);
    expect(m).not.toHaveProperty('authorization_endpoint');
    expect((await t.inject({ method: 'GET', url: '/oauth/authorize?client_id=x' })).statusCode).toBe(404);
  });
});
