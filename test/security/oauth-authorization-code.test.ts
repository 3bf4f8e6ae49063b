/**
 * Authorization codes of the authorization server (SPEC §10): PKCE S256 is
 * required, a code is single-use and bound to its client, redirect URI and
 * verifier, and lives `authorization_code_ttl`. A second use revokes what the
 * first use issued. Every refusal is checked for its status and OAuth error,
 * and for nothing reaching the MCP upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { sha256B64u } from '../../src/lib/crypto.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { bearer } from '../helpers/app.js';
import { BACKENDS } from '../helpers/db.js';
import { rpc } from '../helpers/mcp.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { authorizationRequest, CookieJar, discover, followAuthorization, obtainCode, oauth, registerClient, signIn, tokenForm } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'http://127.0.0.1:7001/cb';

describe.each(BACKENDS)('authorization codes on %s', (backend) => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let base: string;
  let demo: string;
  let clientId: string;
  let otherClient: string;
  const jar = new CookieJar();

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway(
      { servers: [{ name: 'demo', url: up.url }], groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }] },
      { backend },
    );
    base = gw.base;
    demo = `${base}/mcp/demo`;
    await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user', groups: ['eng'] });
    const as = await discover(base);
    clientId = (await registerClient(as, { client_name: 'A', redirect_uris: [REDIRECT] })).client_id;
    otherClient = (await registerClient(as, { client_name: 'B', redirect_uris: [REDIRECT] })).client_id;
    expect((await signIn(base, jar, 'ann@example.com', PASSWORD)).status).toBe(303);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const code = () => obtainCode(base, { jar, clientId, redirectUri: REDIRECT, resource: demo });
  const redeem = (c: { code: string }, form: Record<string, string>) =>
    tokenForm(base, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: clientId, resource: demo, ...form });
  const expectOAuthError = (r: { status: number; body: any }, status: number, error: string) => {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.error).toBe(error);
    expect(r.body).not.toHaveProperty('access_token');
  };

  it('PKCE plain is refused: the client is sent back with invalid_request and no code', async () => {
    const as = await discover(base);
    const req = await authorizationRequest(as, { clientId, redirectUri: REDIRECT, resource: demo, scope: 'mcp:read' });
    req.url.searchParams.set('code_challenge_method', 'plain');
    req.url.searchParams.set('code_challenge', req.verifier);
    const flow = await followAuthorization(req.url.href, { base, jar, redirectUri: REDIRECT, consent: 'allow' });
    expect(flow.callback.searchParams.get('error')).toBe('invalid_request');
    expect(flow.callback.searchParams.get('code')).toBeNull();
    expect(flow.callback.searchParams.get('state')).toBe(req.state);
  });

  it('an authorization request without a PKCE challenge is refused', async () => {
    const as = await discover(base);
    const req = await authorizationRequest(as, { clientId, redirectUri: REDIRECT, resource: demo, scope: 'mcp:read' });
    req.url.searchParams.delete('code_challenge');
    req.url.searchParams.delete('code_challenge_method');
    const flow = await followAuthorization(req.url.href, { base, jar, redirectUri: REDIRECT, consent: 'allow' });
    expect(flow.callback.searchParams.get('error')).toBe('invalid_request');
    expect(flow.callback.searchParams.get('code')).toBeNull();
  });

  it('a code redeemed without its verifier is refused (invalid_grant)', async () => {
    const c = await code();
    expectOAuthError(await redeem(c, {}), 400, 'invalid_grant');
  });

  it('a code redeemed with a wrong verifier is refused (invalid_grant)', async () => {
    const c = await code();
    expectOAuthError(await redeem(c, { code_verifier: oauth.generateRandomCodeVerifier() }), 400, 'invalid_grant');
  });

  it('a code is bound to its redirect_uri', async () => {
    const c = await code();
    expectOAuthError(await redeem(c, { code_verifier: c.verifier, redirect_uri: 'http://127.0.0.1:7001/other' }), 400, 'invalid_grant');
  });

  it('a code is bound to its resource: another resource at the token endpoint is refused', async () => {
    const c = await code();
    const r = await redeem(c, { code_verifier: c.verifier, resource: `${base}/mcp` });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_target');
    expect(r.body).not.toHaveProperty('access_token');
  });

  it('a second use of a code fails and revokes what the first use issued', async () => {
    const c = await code();
    const first = await redeem(c, { code_verifier: c.verifier });
    expect(first.status).toBe(200);
    expect(first.body.token_type).toBe('Bearer');
    const at: string = first.body.access_token;
    expect((await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(at))).status).not.toBe(401);
    up.reset();
    expectOAuthError(await redeem(c, { code_verifier: c.verifier }), 400, 'invalid_grant');
    const refused = await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, bearer(at));
    expect(refused.status).toBe(401);
    expect(refused.json().error.data.code).toBe('invalid_token');
    expect(up.seen).toHaveLength(0);
    expectOAuthError(await tokenForm(base, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: clientId }), 400, 'invalid_grant');
  });

  it('two redemptions of one code at the same moment: at most one gets tokens, and those die', async () => {
    const c = await code();
    const results = await Promise.all([0, 1, 2].map(() => redeem(c, { code_verifier: c.verifier })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeLessThanOrEqual(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error).toBe('invalid_grant');
    for (const r of ok) {
      await expect.poll(async () => (await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(r.body.access_token))).status).toBe(401);
    }
  });

  it('a code issued to one client is refused for another, and its grant is revoked', async () => {
    const c = await code();
    expectOAuthError(await redeem(c, { code_verifier: c.verifier, client_id: otherClient }), 400, 'invalid_grant');
    await expect.poll(async () => (await redeem(c, { code_verifier: c.verifier })).body.error).toBe('invalid_grant');
  });

  it('an expired code is refused (invalid_grant)', async () => {
    const c = await code();
    const row = await gw.t.store.oauth.find('AuthorizationCode', sha256B64u(c.code));
    expect(row).toBeDefined();
    const payload = JSON.parse(row!.payload);
    payload.exp = Math.floor(Date.now() / 1000) - 1;
    await gw.t.store.oauth.upsert('AuthorizationCode', row!.key, JSON.stringify(payload), { grantId: row!.grantId, accountId: row!.accountId, clientId: row!.clientId, expiresAt: row!.expiresAt });
    expectOAuthError(await redeem(c, { code_verifier: c.verifier }), 400, 'invalid_grant');
  });

  it('codes live authorization_code_ttl (60 s by default)', async () => {
    const c = await code();
    const row = await gw.t.store.oauth.find('AuthorizationCode', sha256B64u(c.code));
    const { exp, iat } = JSON.parse(row!.payload);
    expect(exp - iat).toBe(60);
  });
});
