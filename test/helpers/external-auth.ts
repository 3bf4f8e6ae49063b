/**
 * Shared fixture for the external-credential security suite: a gateway with
 * two jwt providers backed by real local JWKS servers (A: RS256, B: ES256,
 * different issuers and audiences), plus the refusal assertion every case
 * uses (status, problem code, WWW-Authenticate challenge).
 */
import { expect } from 'vitest';
import { startTestApp, type TestApp } from './app.js';
import { makeKey, signToken, startJwksServer, type JwksServer, type TestKey } from './jwks-server.js';

export interface Idp {
  name: string;
  issuer: string;
  audience: string;
  key: TestKey;
  jwks: JwksServer;
  /** A valid token for this provider, with claim overrides. */
  token(claims?: Record<string, unknown>, header?: Record<string, unknown>): string;
}

export interface JwtSecurityFixture {
  t: TestApp;
  a: Idp;
  b: Idp;
  close(): Promise<void>;
}

export async function startJwtSecurityApp(opts: { providerExtra?: Record<string, unknown>; config?: Record<string, unknown> } = {}): Promise<JwtSecurityFixture> {
  const keyA = makeKey('RS256', 'a-1');
  const keyB = makeKey('ES256', 'b-1');
  const jwksA = await startJwksServer([keyA]);
  const jwksB = await startJwksServer([keyB]);
  const mk = (name: string, issuer: string, audience: string, key: TestKey, jwks: JwksServer): Idp => ({
    name, issuer, audience, key, jwks,
    token: (claims = {}, header = {}) => signToken(key, { iss: issuer, aud: audience, sub: 'alice', groups: ['eng'], ...claims }, header),
  });
  const a = mk('idp-a', 'https://a.idp.test/', 'aud-a', keyA, jwksA);
  const b = mk('idp-b', 'https://b.idp.test', 'aud-b', keyB, jwksB);
  const t = await startTestApp({
    config: {
      ...opts.config,
      auth: {
        providers: [
          { type: 'jwt', name: a.name, issuer: a.issuer, audience: a.audience, algorithms: ['RS256'], jwks_uri: jwksA.url, claims: { groups: 'groups' }, ...opts.providerExtra },
          { type: 'jwt', name: b.name, issuer: b.issuer, audience: b.audience, algorithms: ['ES256'], jwks_uri: jwksB.url, claims: { groups: 'groups' }, ...opts.providerExtra },
        ],
      },
    },
  });
  return {
    t, a, b,
    async close() {
      await t.close();
      await jwksA.close();
      await jwksB.close();
    },
  };
}

/** GET /api/v1/auth/me with the given headers. */
export const whoami = (t: TestApp, headers: Record<string, string>) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers });

/**
 * The credential is refused: 401 (unless told otherwise), the problem code,
 * and a Bearer challenge naming invalid_token.
 */
export async function expectRefused(t: TestApp, token: string, code: 'invalid_token' | 'token_expired' = 'invalid_token') {
  const r = await whoami(t, { authorization: `Bearer ${token}` });
  expect(r.statusCode).toBe(401);
  expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(r.json().code).toBe(code);
  const challenge = String(r.headers['www-authenticate'] ?? '');
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toContain('error="invalid_token"');
  // the refused credential never shows up in the answer
  expect(r.body).not.toContain(token.slice(-16));
  return r;
}

export async function expectAccepted(t: TestApp, token: string) {
  const r = await whoami(t, { authorization: `Bearer ${token}` });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as { id: string; role: string; groups: string[]; auth: { method: string; provider: string } };
}
