/**
 * The sign-in and consent pages and browser sessions (SPEC §10/§11): never
 * framed, no inline script or style, escaped content, CSRF-protected forms
 * (consent, sign-out, sign-in), throttled sign-in shared with the API login,
 * and a session cookie that is HttpOnly, SameSite=Lax, hashed at rest and
 * `__Host-`/Secure over https.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { sha256B64u } from '../../src/lib/crypto.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { authorizationRequest, CookieJar, discover, formAction, hiddenField, registerClient, send, signIn } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'http://127.0.0.1:7004/cb';

function expectPageHeaders(r: Response, opts: { formAction: boolean }) {
  const csp = r.headers.get('content-security-policy')!;
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|script-src/);
  if (opts.formAction) expect(csp).toContain("form-action 'self'");
  else expect(csp).not.toContain('form-action');
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
}

function expectNoInlineCode(page: string) {
  expect(page).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=|javascript:/i);
}

describe('sign-in and consent pages', () => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let base: string;
  let clientId: string;
  let xssClient: string;

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway({ servers: [{ name: 'demo', url: up.url }], auth: { login_throttle: { per_account: { requests: 3, per: '15m' } } } });
    base = gw.base;
    await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    await gw.t.store.users.create({ email: 'bob@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    await gw.t.store.users.create({ email: 'victim@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    const as = await discover(base);
    clientId = (await registerClient(as, { client_name: 'Pages', redirect_uris: [REDIRECT] })).client_id;
    xssClient = (await registerClient(as, { client_name: '<script>alert(1)</script><img src=x onerror=alert(2)>', redirect_uris: [REDIRECT] })).client_id;
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  /** Signed in as `email`, at the consent page of a fresh authorization request. */
  async function consentPage(email: string, client = clientId) {
    const jar = new CookieJar();
    expect((await signIn(base, jar, email, PASSWORD)).status).toBe(303);
    const req = await authorizationRequest(await discover(base), { clientId: client, redirectUri: REDIRECT, resource: `${base}/mcp/demo`, scope: 'mcp:read' });
    let url = req.url.href;
    for (let i = 0; i < 5; i++) {
      const r = await send(url, jar);
      if (r.status === 200) return { jar, res: r, page: await r.text() };
      url = new URL(r.headers.get('location')!, base).href;
    }
    throw new Error('no consent page');
  }

  it('the login page: fields Email and Password, button Sign in; strict CSP, no inline code', async () => {
    const r = await send(`${base}/login`, new CookieJar());
    expect(r.status).toBe(200);
    expectPageHeaders(r, { formAction: false });
    const page = await r.text();
    expect(page).toMatch(/<label for="email">Email<\/label>/);
    expect(page).toMatch(/<label for="password">Password<\/label>/);
    expect(page).toMatch(/<button type="submit">Sign in<\/button>/);
    expectNoInlineCode(page);
    const css = await fetch(`${base}/assets/portcullis.css`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('the consent page cannot be framed, has no inline code, and does not restrict form-action (the redirect to the client must pass)', async () => {
    const { res, page } = await consentPage('ann@example.com');
    expectPageHeaders(res, { formAction: false });
    expectNoInlineCode(page);
  });

  it('the client’s name is escaped on the consent page', async () => {
    const { page } = await consentPage('ann@example.com', xssClient);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;');
    expectNoInlineCode(page.replace(/&lt;[^]*?&gt;/g, ''));
  });

  it('a consent decision without the session’s CSRF token is refused and issues no code', async () => {
    const { jar, page } = await consentPage('ann@example.com');
    const action = new URL(formAction(page)!, base).href;
    for (const csrf of [undefined, 'x'.repeat(43)]) {
      const body = new URLSearchParams({ decision: 'allow', ...(csrf ? { csrf_token: csrf } : {}) });
      const r = await send(action, jar, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      expect(r.status).toBe(403);
      expect(r.headers.get('location')).toBeNull();
      expect(await r.text()).toContain('<code>csrf_failed</code>');
    }
    // another signed-in person's token and cookie (a cross-user forgery) is refused too
    const bob = await consentPage('bob@example.com');
    const forged = await send(action, bob.jar, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ decision: 'allow', csrf_token: hiddenField(bob.page, 'csrf_token')! }),
    });
    expect(forged.status).not.toBe(303);
    const codes = await gw.t.store.oauth.listModel('AuthorizationCode');
    expect(codes).toHaveLength(0);
  });

  it('sign-out needs the CSRF token: a forged POST /logout leaves the session alive', async () => {
    const jar = new CookieJar();
    await signIn(base, jar, 'ann@example.com', PASSWORD);
    const forged = await send(`${base}/logout`, jar, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(forged.status).toBe(403);
    expect((await send(`${base}/api/v1/auth/me`, jar)).status).toBe(200);
    const signedIn = await (await send(`${base}/login`, jar)).text();
    expect(signedIn).toContain('ann@example.com');
    const out = await send(`${base}/logout`, jar, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf_token: hiddenField(signedIn, 'csrf_token')! }) });
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie().join()).toMatch(/portcullis_session=;/);
    expect((await send(`${base}/api/v1/auth/me`, jar)).status).toBe(401);
  });

  it('the sign-in form needs its CSRF cookie and token (no login CSRF)', async () => {
    const r = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ email: 'ann@example.com', password: PASSWORD }), redirect: 'manual' });
    expect(r.status).toBe(403);
    expect(r.headers.getSetCookie().join()).not.toContain('portcullis_session=');
  });

  it('the session cookie: 256 random bits, stored only as a hash, HttpOnly, SameSite=Lax, Path=/ (plain-http loopback: no __Host-)', async () => {
    const jar = new CookieJar();
    const r = await signIn(base, jar, 'ann@example.com', PASSWORD);
    const line = r.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='))!;
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Lax/);
    expect(line).toMatch(/; Path=\//);
    expect(line).not.toMatch(/Secure/);
    const value = jar.get('portcullis_session')!;
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await gw.t.store.browserSessions.get(value)).toBeUndefined();
    expect(await gw.t.store.browserSessions.get(sha256B64u(value))).toBeDefined();
  });

  it('sign-in throttling is shared with the API login', async () => {
    for (let i = 0; i < 3; i++) expect((await gw.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'victim@example.com', password: `wrong-${i}` } })).statusCode).toBe(401);
    const r = await signIn(base, new CookieJar(), 'victim@example.com', PASSWORD);
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('browser sessions over https and password_login: false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { server: { public_url: 'https://gw.example.com' }, auth: { password_login: false } } });
    await t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
  });
  afterAll(async () => t?.close());

  it('over https the cookies are __Host- and Secure', async () => {
    const page = await t.inject({ method: 'GET', url: '/login' });
    const set = [page.headers['set-cookie']].flat().join('\n');
    expect(set).toMatch(/^__Host-portcullis_login_csrf=[^;]+; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Strict/m);
  });

  it('with password_login false the form is not offered, and both sign-in paths refuse (403 password_login_disabled)', async () => {
    const page = await t.inject({ method: 'GET', url: '/login' });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('name="password"');
    const api = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ann@example.com', password: PASSWORD } });
    expect(api.statusCode).toBe(403);
    expect(api.json().code).toBe('password_login_disabled');
  });
});
