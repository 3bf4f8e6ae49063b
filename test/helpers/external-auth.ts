/**
 * Shared fixture for the external-credential security suite: a gateway in
 * front of a real MCP upstream that records every request it gets, with two
 * jwt providers backed by real local JWKS servers (A: RS256, B: ES256,
 * different issuers and audiences), plus the refusal assertion every case
 * uses: on the management API and on /mcp/{server}, the status, the error
 * code, the WWW-Authenticate challenge, and that the upstream saw nothing.
 */
import { expect } from 'vitest';
import { startTestUpstream, type TestUpstream } from '../fixtures/inspector-upstream.js';
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

/** A gateway with an MCP server `demo` in front of a recording upstream. */
export interface Guarded {
  t: TestApp;
  upstream: TestUpstream;
}

export async function startGuardedApp(opts: { config?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<Guarded & { close(): Promise<void> }> {
  const upstream = await startTestUpstream();
  const t = await startTestApp({
    env: opts.env,
    config: { ...opts.config, servers: [{ name: 'demo', url: upstream.url }], groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }] },
  });
  return {
    t,
    upstream,
    async close() {
      await t.close();
      await upstream.close();
    },
  };
}

export interface JwtSecurityFixture extends Guarded {
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
  const g = await startGuardedApp({
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
    t: g.t, upstream: g.upstream, a, b,
    async close() {
      await g.close();
      await jwksA.close();
      await jwksB.close();
    },
  };
}

/** GET /api/v1/auth/me with the given headers. */
export const whoami = (t: TestApp, headers: Record<string, string>) => t.inject({ method: 'GET', url: '/api/v1/auth/me', headers });

/**
 * The credential is refused on both surfaces: 401 (problem+json on /api/v1,
 * a JSON-RPC error on /mcp), the error code, a Bearer challenge naming
 * invalid_token (with resource_metadata on /mcp), the token never echoed,
 * and not a single request reached the upstream.
 */
export async function expectRefused(g: Guarded, token: string, code: 'invalid_token' | 'token_expired' = 'invalid_token') {
  const seen = g.upstream.requests.length;
  const r = await whoami(g.t, { authorization: `Bearer ${token}` });
  expect(r.statusCode).toBe(401);
  expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(r.json().code).toBe(code);
  const challenge = String(r.headers['www-authenticate'] ?? '');
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toContain('error="invalid_token"');
  // the refused credential never shows up in the answer
  expect(r.body).not.toContain(token.slice(-16));

  const m = await g.t.inject({
    method: 'POST',
    url: '/mcp/demo',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    payload: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'should never arrive' } } },
  });
  expect(m.statusCode).toBe(401);
  expect(m.json().error?.data?.code).toBe(code);
  const mcpChallenge = String(m.headers['www-authenticate'] ?? '');
  expect(mcpChallenge).toMatch(/^Bearer resource_metadata="[^"]*\/\.well-known\/oauth-protected-resource\/mcp\/demo"/);
  expect(mcpChallenge).toContain('error="invalid_token"');
  expect(m.body).not.toContain(token.slice(-16));

  expect(g.upstream.requests.length).toBe(seen);
  expect(g.upstream.methods()).not.toContain('tools/call');
  return r;
}

export async function expectAccepted(t: TestApp, token: string) {
  const r = await whoami(t, { authorization: `Bearer ${token}` });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as { id: string; role: string; groups: string[]; auth: { method: string; provider: string } };
}
