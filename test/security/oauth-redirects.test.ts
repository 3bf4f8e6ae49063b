/**
 * Where the authorization server sends a browser (SPEC §10/§11): errors found
 * before the client and its redirect URI are validated are a page (400),
 * never a redirect; redirect URIs match exactly (any port only on loopback,
 * RFC 8252); a bad resource goes back to the verified redirect URI with
 * `invalid_target`; `return_to` after sign-in is a same-origin path or ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { BACKENDS } from '../helpers/db.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { authorizationRequest, CookieJar, discover, followAuthorization, hiddenField, registerClient, send, signIn } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';

describe.each(BACKENDS)('redirects on %s', (backend) => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let base: string;
  let web: string;
  let native: string;
  const jar = new CookieJar();

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway({ servers: [{ name: 'demo', url: up.url }] }, { backend });
    base = gw.base;
    await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    const as = await discover(base);
    web = (await registerClient(as, { client_name: 'Web', redirect_uris: ['https://app.example.com/oauth/cb'] })).client_id;
    native = (await registerClient(as, { client_name: 'Native', redirect_uris: ['http://127.0.0.1:8123/callback'] })).client_id;
    expect((await signIn(base, jar, 'ann@example.com', PASSWORD)).status).toBe(303);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  async function authorize(clientId: string, redirectUri: string, extra: Record<string, string> = {}) {
    const as = await discover(base);
    const req = await authorizationRequest(as, { clientId, redirectUri, resource: `${base}/mcp/demo`, scope: 'mcp:read' });
    for (const [k, v] of Object.entries(extra)) req.url.searchParams.set(k, v);
    return { req, res: await send(req.url.href, jar) };
  }

  /** An error shown as a page: 400, HTML, no Location, and nothing sent towards the unchecked URI. */
  async function expectErrorPage(res: Response, code: string) {
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const page = await res.text();
    expect(page).toContain(`<code>${code}</code>`);
    expect(page).not.toContain('evil.example');
  }

  it('a redirect URI that is not registered gets an error page, never a redirect', async () => {
    for (const uri of ['https://evil.example/cb', 'https://app.example.com/oauth/cb/', 'https://app.example.com/oauth/cb?x=1', 'https://APP.example.com/oauth/cb', 'https://app.example.com:8443/oauth/cb']) {
      const { res } = await authorize(web, uri);
      await expectErrorPage(res, 'invalid_redirect_uri');
    }
  });

  it('an unknown client gets an error page, never a redirect', async () => {
    const { res } = await authorize('pco_does-not-exist', 'https://evil.example/cb');
    await expectErrorPage(res, 'invalid_client');
  });

  it('a loopback redirect URI matches on any port, but not on another path or host', async () => {
    const ok = await authorize(native, 'http://127.0.0.1:40999/callback');
    expect(ok.res.status).toBe(303);
    for (const uri of ['http://127.0.0.1:40999/other', 'http://localhost:8123/callback', 'http://127.0.0.2:8123/callback']) {
      const { res } = await authorize(native, uri);
      await expectErrorPage(res, 'invalid_redirect_uri');
    }
  });

  it('a resource that is not an MCP endpoint of this gateway is invalid_target, sent back with state and iss', async () => {
    for (const resource of ['https://evil.example/mcp/demo', `${base}/mcp/nope`, `${base}/api/v1`, `${base}/mcp/demo/`, `${base}/MCP/demo`]) {
      const { req, res } = await authorize(native, 'http://127.0.0.1:8123/callback', { resource });
      expect(res.status, resource).toBe(303);
      const cb = new URL(res.headers.get('location')!);
      expect(cb.origin + cb.pathname).toBe('http://127.0.0.1:8123/callback');
      expect(cb.searchParams.get('error')).toBe('invalid_target');
      expect(cb.searchParams.get('state')).toBe(req.state);
      expect(cb.searchParams.get('iss')).toBe(base);
    }
    const { res } = await authorize(native, 'http://127.0.0.1:8123/callback', { resource: '' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');
  });

  it('the aggregated endpoint is a valid resource', async () => {
    const { req } = await authorize(native, 'http://127.0.0.1:8123/callback');
    req.url.searchParams.set('resource', `${base}/mcp`);
    const flow = await followAuthorization(req.url.href, { base, jar, redirectUri: 'http://127.0.0.1:8123/callback', consent: 'allow' });
    expect(flow.callback.searchParams.get('code')).toBeTruthy();
  });

  it('return_to after sign-in is followed only when it is a path on this gateway (no open redirect)', async () => {
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', 'http:evil.example', ' /ok', '/ok\nLocation: https://evil.example']) {
      const fresh = new CookieJar();
      const form = await send(`${base}/login?return_to=${encodeURIComponent(evil)}`, fresh);
      const page = await form.text();
      expect(page).not.toContain('evil.example');
      const body = new URLSearchParams({ csrf_token: hiddenField(page, 'csrf_token')!, email: 'ann@example.com', password: PASSWORD, return_to: evil });
      const r = await send(`${base}/login`, fresh, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      expect(r.status, evil).toBe(303);
      expect(r.headers.get('location'), evil).toBe('/login');
      // signed in already: GET /login with it is not followed either
      const again = await send(`${base}/login?return_to=${encodeURIComponent(evil)}`, fresh);
      expect(again.status).toBe(200);
    }
    const fresh = new CookieJar();
    const r = await signIn(base, fresh, 'ann@example.com', PASSWORD, `${base}/login?return_to=${encodeURIComponent('/oauth/interaction/abc?x=1')}`);
    expect(r.headers.get('location')).toBe('/oauth/interaction/abc?x=1');
  });
});
