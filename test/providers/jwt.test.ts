import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setClock } from '../../src/lib/time.js';
import { bearer, startTestApp, type TestApp } from '../helpers/app.js';
import { makeKey, signRaw, signToken, startJwksServer, type JwksServer, type TestKey } from '../helpers/jwks-server.js';

const HS_SECRET = 'k'.repeat(32) + '-hmac-secret-for-tests-0123456789';

describe('jwt providers', () => {
  let t: TestApp;
  let kc: JwksServer;
  let entra: JwksServer;
  let kcKey: TestKey;
  let entraKey: TestKey;
  let fileKey: TestKey;
  const kcIss = 'https://kc.example.test/realms/acme';
  const entraIss = 'https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0';

  beforeAll(async () => {
    kcKey = makeKey('RS256', 'kc-1');
    entraKey = makeKey('RS256', 'entra-1');
    fileKey = makeKey('ES256', 'file-1');
    kc = await startJwksServer([kcKey]);
    entra = await startJwksServer([entraKey]);
    const dir = mkdtempSync(join(tmpdir(), 'pcl-jwt-'));
    writeFileSync(join(dir, 'idp.pem'), fileKey.publicPem);
    t = await startTestApp({
      env: { HS_SECRET },
      config: {
        auth: {
          providers: [
            {
              type: 'jwt', name: 'keycloak', issuer: kcIss, audience: 'portcullis', algorithms: ['RS256'], jwks_uri: kc.url,
              claims: { subject: 'sub', email: 'email', role: 'realm_access.roles', groups: 'groups' },
              role_map: { 'portcullis-admin': 'admin' }, default_role: 'viewer', required_claims: ['azp'],
            },
            {
              type: 'jwt', name: 'entra', issuer: entraIss, audience: ['api://portcullis', 'c0ffee00-0000-0000-0000-000000000000'], algorithms: ['RS256'], jwks_uri: entra.url,
              claims: { subject: 'oid', email: 'preferred_username', role: 'roles', groups: 'groups' }, typ: 'JWT',
            },
            {
              type: 'jwt', name: 'auth0', issuer: 'https://acme.eu.auth0.com/', audience: 'https://api.acme.test', algorithms: ['ES256'], public_key_file: join(dir, 'idp.pem'),
              claims: { role: 'https://acme.test/roles', groups: 'https://acme.test/groups' },
            },
            { type: 'jwt', name: 'hmac', issuer: 'hmac-issuer', audience: 'portcullis', algorithms: ['HS256'], secret_env: 'HS_SECRET', cache_size: 0 },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await kc.close();
    await entra.close();
  });
  afterEach(() => setClock(null));

  const me = (token: string) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });

  it('maps a Keycloak token: realm roles through role_map, groups, email, scopes', async () => {
    const token = signToken(kcKey, {
      iss: kcIss, aud: ['portcullis', 'account'], sub: 'u-123', azp: 'portcullis-cli', email: 'ada@example.com', preferred_username: 'ada',
      realm_access: { roles: ['offline_access', 'portcullis-admin'] }, groups: ['/eng', 'ops'], scope: 'openid mcp:execute', jti: 'j-1',
    });
    const r = await me(token);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ id: 'keycloak:u-123', email: 'ada@example.com', username: 'ada', role: 'admin', groups: ['/eng', 'ops'], type: 'external' });
    expect(body.auth).toMatchObject({ method: 'jwt', provider: 'keycloak', token_id: 'j-1' });
    expect([...body.auth.scopes].sort()).toEqual(['mcp:execute', 'mcp:read']);
  });

  it('unknown role values fall back to default_role; no Portcullis scope means all rights', async () => {
    const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'u-9', azp: 'x', realm_access: { roles: ['offline_access'] }, scope: 'openid profile' });
    const body = (await me(token)).json();
    expect(body.role).toBe('viewer');
    expect(body.groups).toEqual([]);
    expect(body.auth.scopes).toBeNull();
  });

  it('required_claims are enforced', async () => {
    const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'u-9' });
    const r = await me(token);
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
  });

  it('maps an Entra ID v2 token: oid subject, roles and groups arrays, either audience', async () => {
    for (const aud of ['api://portcullis', 'c0ffee00-0000-0000-0000-000000000000']) {
      const token = signToken(entraKey, {
        iss: entraIss, aud, oid: 'oid-42', sub: 'pairwise', preferred_username: 'grace@acme.test', roles: ['operator'], groups: ['g-1', 'g-2'], scp: 'mcp:read',
      });
      const r = await me(token);
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ id: 'entra:oid-42', email: 'grace@acme.test', role: 'operator', groups: ['g-1', 'g-2'] });
      expect(r.json().auth.scopes).toEqual(['mcp:read']);
    }
  });

  it('enforces the configured typ header', async () => {
    const token = signToken(entraKey, { iss: entraIss, aud: 'api://portcullis', oid: 'o' }, { typ: 'at+jwt' });
    const r = await me(token);
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
  });

  it('reads Auth0 namespaced claims (literal keys with dots) with a public_key_file key', async () => {
    const token = signToken(fileKey, {
      iss: 'https://acme.eu.auth0.com/', aud: ['https://api.acme.test', 'https://acme.eu.auth0.com/userinfo'], sub: 'auth0|abc',
      'https://acme.test/roles': ['user', 'operator'], 'https://acme.test/groups': 'eng', permissions: ['read:things'],
    });
    const r = await me(token);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: 'auth0:auth0|abc', role: 'operator', groups: ['eng'] });
  });

  it('verifies HMAC tokens with the configured secret', async () => {
    const token = signRaw({ alg: 'HS256', typ: 'JWT' }, { iss: 'hmac-issuer', aud: 'portcullis', sub: 'svc', exp: Math.floor(Date.now() / 1000) + 60 }, HS_SECRET);
    const r = await me(token);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: 'hmac:svc', role: 'user' });
    const wrong = signRaw({ alg: 'HS256' }, { iss: 'hmac-issuer', aud: 'portcullis', sub: 'svc', exp: Math.floor(Date.now() / 1000) + 60 }, HS_SECRET + 'x');
    expect((await me(wrong)).statusCode).toBe(401);
  });

  it('honours clock_skew for exp and nbf (frozen clock)', async () => {
    const base = Date.now();
    const exp = Math.floor(base / 1000) + 10;
    const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'skew', azp: 'x', exp, nbf: exp - 20 });
    setClock(() => (exp + 30) * 1000); // 30 s past exp, inside the 60 s default skew
    expect((await me(token)).statusCode).toBe(200);
    setClock(() => (exp - 20 - 50) * 1000); // 50 s before nbf, inside skew
    // iat pinned to the frozen clock: left at the real time it lies exactly one skew (60 s) ahead,
    // and a second boundary crossed between \`base\` and signing made it 61 s (a flaky refusal)
    const fresh = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'skew2', azp: 'x', iat: exp - 20 - 50, exp, nbf: exp - 20 });
    expect((await me(fresh)).statusCode).toBe(200);
  });

  it('caches verified tokens but never past exp', async () => {
    const exp = Math.floor(Date.now() / 1000) + 120;
    const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'cached', azp: 'x', exp });
    const before = kc.requests.length;
    expect((await me(token)).statusCode).toBe(200);
    expect((await me(token)).statusCode).toBe(200);
    expect(kc.requests.length).toBe(before);
    setClock(() => (exp + 61) * 1000);
    const r = await me(token);
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('token_expired');
  });

  it('a token issued in the future (iat beyond skew) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: 'future', azp: 'x', iat: now + 600, exp: now + 1200 });
    const r = await me(token);
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
  });

  it('fetches the JWKS once for many tokens (cached keys)', async () => {
    const before = kc.requests.length;
    for (let i = 0; i < 5; i++) {
      const token = signToken(kcKey, { iss: kcIss, aud: 'portcullis', sub: `many-${i}`, azp: 'x' });
      expect((await me(token)).statusCode).toBe(200);
    }
    expect(kc.requests.length).toBe(before);
  });

  it('our own session tokens still work beside external providers', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'local@example.com', password: 'correct horse battery' } });
    expect(r.statusCode).toBe(201);
    const m = await me(r.json().token);
    expect(m.statusCode).toBe(200);
    expect(m.json().auth.method).toBe('session');
  });
});
