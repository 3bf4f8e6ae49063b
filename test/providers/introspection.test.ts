import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setClock } from '../../src/lib/time.js';
import { bearer, startTestApp, type TestApp } from '../helpers/app.js';
import { startIntrospectionServer, type IntrospectionServer } from '../helpers/introspection-server.js';

describe('introspection providers (RFC 7662)', () => {
  let t: TestApp;
  let idp: IntrospectionServer;
  const CLIENT_ID = 'portcullis gw';
  const CLIENT_SECRET = 's3cr:et/with+chars';
  const active = (extra: Record<string, unknown> = {}) => ({
    active: true, sub: 'u-7', username: 'zoe', email: 'zoe@example.com', scope: 'mcp mcp:read openid', exp: Math.floor(Date.now() / 1000) + 3600,
    roles: ['ops-admins'], groups: ['eng', 'sre'], ...extra,
  });

  beforeAll(async () => {
    idp = await startIntrospectionServer();
    t = await startTestApp({
      env: { INTRO_ID: CLIENT_ID, INTRO_SECRET: CLIENT_SECRET },
      config: {
        auth: {
          providers: [
            {
              type: 'introspection', name: 'corp-opaque', url: idp.url, client_id_env: 'INTRO_ID', client_secret_env: 'INTRO_SECRET',
              required_scopes: ['mcp'], cache_ttl: '5m', cache_size: 100,
              claims: { role: 'roles', groups: 'groups' }, role_map: { 'ops-admins': 'operator' },
            },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await idp.close();
  });
  afterEach(() => {
    setClock(null);
    idp.answer = () => ({ body: { active: false } });
  });

  const me = (token: string) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });

  it('posts the token with client_secret_basic and maps the answer to a principal', async () => {
    idp.answer = (tok) => ({ body: tok === 'opaque-token-1' ? active() : { active: false } });
    const r = await me('opaque-token-1');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: 'corp-opaque:u-7', email: 'zoe@example.com', username: 'zoe', role: 'operator', groups: ['eng', 'sre'], type: 'external' });
    expect(r.json().auth).toMatchObject({ method: 'introspection', provider: 'corp-opaque', scopes: ['mcp:read'] });
    const req = idp.requests.at(-1)!;
    expect(req.form).toEqual({ token: 'opaque-token-1', token_type_hint: 'access_token' });
    expect(req.contentType).toBe('application/x-www-form-urlencoded');
    const [scheme, cred] = req.authorization!.split(' ');
    expect(scheme).toBe('Basic');
    const [id, secret] = Buffer.from(cred, 'base64').toString().split(':');
    expect(decodeURIComponent(id.replace(/\+/g, ' '))).toBe(CLIENT_ID);
    expect(decodeURIComponent(secret.replace(/\+/g, ' '))).toBe(CLIENT_SECRET);
  });

  it('caches active answers: the endpoint is asked once', async () => {
    idp.answer = () => ({ body: active({ sub: 'cached' }) });
    const before = idp.requests.length;
    for (let i = 0; i < 4; i++) expect((await me('opaque-cached')).statusCode).toBe(200);
    expect(idp.requests.length - before).toBe(1);
  });

  it('caches inactive answers too', async () => {
    const before = idp.requests.length;
    for (let i = 0; i < 3; i++) expect((await me('opaque-inactive')).statusCode).toBe(401);
    expect(idp.requests.length - before).toBe(1);
  });

  it('the cache never outlives cache_ttl', async () => {
    idp.answer = () => ({ body: active({ sub: 'ttl' }) });
    const before = idp.requests.length;
    expect((await me('opaque-ttl')).statusCode).toBe(200);
    const start = Date.now();
    setClock(() => start + 5 * 60_000 + 1_000);
    expect((await me('opaque-ttl')).statusCode).toBe(200);
    expect(idp.requests.length - before).toBe(2);
  });

  it('a cached active answer for a token that has since expired is refused', async () => {
    const exp = Math.floor(Date.now() / 1000) + 30;
    idp.answer = () => ({ body: active({ sub: 'short', exp }) });
    expect((await me('opaque-short')).statusCode).toBe(200);
    setClock(() => (exp + 1) * 1000);
    const r = await me('opaque-short');
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('token_expired');
  });

  it('required_scopes must all be present', async () => {
    idp.answer = () => ({ body: active({ scope: 'openid mcp:read' }) });
    const r = await me('opaque-noscope');
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
  });

  it('pcl_ API tokens and our own JWTs never reach the introspection endpoint', async () => {
    const reg = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'own@example.com', password: 'correct horse battery' } });
    const before = idp.requests.length;
    expect((await me(reg.json().token)).statusCode).toBe(200);
    expect((await me('pcl_' + 'A'.repeat(43))).statusCode).toBe(401);
    expect(idp.requests.length).toBe(before);
  });
});
