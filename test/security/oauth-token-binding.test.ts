/**
 * What the authorization server's tokens are good for (SPEC §10/§11): an
 * access token works only at the resource it was issued for — never at
 * another MCP server or at /api/v1 — and only while its grant lives; a
 * refresh token only for its client; a browser session never at /mcp.
 * Each refusal: the status, the error code, and nothing reaching the upstream.
 */
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { bearer } from '../helpers/app.js';
import { BACKENDS } from '../helpers/db.js';
import { rpc } from '../helpers/mcp.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { connect, CookieJar, discover, registerClient, send, signIn, tokenForm } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'http://127.0.0.1:7002/cb';
const ping = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

describe.each(BACKENDS)('token binding on %s', (backend) => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let base: string;
  let demo: string;
  let clientId: string;
  let tokens: Awaited<ReturnType<typeof connect>>['tokens'];
  let userId: string;
  const jar = new CookieJar();

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway(
      {
        servers: [
          { name: 'demo', url: up.url },
          { name: 'other', url: up.url },
        ],
        groups: [{ name: 'eng', grants: [{ server: '*', tools: ['*'], access_level: 'execute' }] }],
      },
      { backend },
    );
    base = gw.base;
    demo = `${base}/mcp/demo`;
    userId = (await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user', groups: ['eng'] })).id;
    clientId = (await registerClient(await discover(base), { client_name: 'A', redirect_uris: [REDIRECT] })).client_id;
    expect((await signIn(base, jar, 'ann@example.com', PASSWORD)).status).toBe(303);
    tokens = (await connect(base, { jar, clientId, redirectUri: REDIRECT, resource: demo })).tokens;
    expect((await rpc(demo, ping, bearer(tokens.access_token))).status).toBe(200);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const expectRefusedAtMcp = async (url: string, headers: Record<string, string>, code = 'invalid_token') => {
    up.reset();
    const r = await rpc(url, ping, headers);
    expect(r.status).toBe(401);
    expect(r.json().error.data.code).toBe(code);
    expect(r.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect(up.seen).toHaveLength(0);
  };

  it('an access token for /mcp/demo is refused at another MCP server (401 invalid_token)', async () => {
    await expectRefusedAtMcp(`${base}/mcp/other`, bearer(tokens.access_token));
  });

  it('… and at spellings that are not its endpoint; spellings that normalize to it are its endpoint', async () => {
    // Case and a trailing slash name no endpoint: refused before anything is forwarded.
    for (const path of ['/mcp/DEMO', '/mcp/demo/']) {
      up.reset();
      const r = await rpc(base + path, ping, bearer(tokens.access_token));
      expect(r.status, path).not.toBe(200);
      expect(up.seen).toHaveLength(0);
    }
    // The one door normalizes the path before routing and authentication (SPEC §15):
    // these are /mcp/demo itself, so the token bound to it is checked against it.
    for (const path of ['/mcp//demo', '/mcp/%64emo']) {
      up.reset();
      const r = await rpc(base + path, ping, bearer(tokens.access_token));
      expect(r.status, path).toBe(200);
      expect(up.seen).toHaveLength(1);
    }
  });

  it('an access token of the authorization server is refused at /api/v1 (401 invalid_token)', async () => {
    for (const url of ['/api/v1/auth/me', '/api/v1/servers', '/api/v1/auth/tokens']) {
      const r = await gw.t.inject({ method: 'GET', url, headers: bearer(tokens.access_token) });
      expect(r.statusCode, url).toBe(401);
      expect(r.json().code).toBe('invalid_token');
    }
  });

  it('a tampered access token is refused', async () => {
    const [h, p, sig] = tokens.access_token.split('.');
    const claims = decodeJwt(tokens.access_token);
    const other = Buffer.from(JSON.stringify({ ...claims, aud: `${base}/mcp/other` })).toString('base64url');
    await expectRefusedAtMcp(`${base}/mcp/other`, bearer(`${h}.${other}.${sig}`));
    await expectRefusedAtMcp(demo, bearer(`${h}.${p}.${sig.slice(0, -2)}AA`));
  });

  it('an access token signed with another key is refused, even with the exact header', async () => {
    const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0], 'base64url').toString());
    const forged = await new SignJWT({ ...decodeJwt(tokens.access_token) }).setProtectedHeader(header).sign(new TextEncoder().encode('x'.repeat(32)));
    await expectRefusedAtMcp(demo, bearer(forged));
  });

  it('a browser session cookie is never accepted at /mcp', async () => {
    const cookies = jar.header();
    expect(cookies).toContain('portcullis_session=');
    expect((await send(`${base}/api/v1/auth/me`, jar)).status).toBe(200);
    await expectRefusedAtMcp(demo, { cookie: cookies }, 'unauthenticated');
  });

  it('a refresh token presented by another client is refused, and its grant is revoked', async () => {
    const other = (await registerClient(await discover(base), { client_name: 'B', redirect_uris: [REDIRECT] })).client_id;
    const victim = await connect(base, { jar, clientId, redirectUri: REDIRECT, resource: `${base}/mcp/other` });
    const stolen = await tokenForm(base, { grant_type: 'refresh_token', refresh_token: victim.tokens.refresh_token!, client_id: other });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    expect(stolen.body).not.toHaveProperty('access_token');
    await expect.poll(async () => (await rpc(`${base}/mcp/other`, ping, bearer(victim.tokens.access_token))).status).toBe(401);
    expect((await tokenForm(base, { grant_type: 'refresh_token', refresh_token: victim.tokens.refresh_token!, client_id: clientId })).body.error).toBe('invalid_grant');
  });

  it('the tokens of a disabled user are refused on the next request, and cannot be refreshed', async () => {
    const fresh = await connect(base, { jar, clientId, redirectUri: REDIRECT, resource: demo });
    await gw.t.store.users.update(userId, { disabled: true });
    gw.t.app.services.bus.publish({ kind: 'user', id: userId });
    try {
      await expectRefusedAtMcp(demo, bearer(fresh.tokens.access_token), 'user_disabled');
      const r = await tokenForm(base, { grant_type: 'refresh_token', refresh_token: fresh.tokens.refresh_token!, client_id: clientId });
      expect(r.body.error).toBe('invalid_grant');
    } finally {
      await gw.t.store.users.update(userId, { disabled: false });
      gw.t.app.services.bus.publish({ kind: 'user', id: userId });
    }
  });
});
