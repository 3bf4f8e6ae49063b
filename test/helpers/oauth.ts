/**
 * Driving the authorization server over real HTTP without a browser: a cookie
 * jar, the sign-in form, the consent form, and the redirect chain of
 * /oauth/authorize. The client side of OAuth (PKCE, state, `iss` checks, code
 * exchange) is oauth4webapi's — a reference client, not test code.
 */
import * as oauth from 'oauth4webapi';
import { parse as parseCookie } from 'cookie';

/** Cookies by name (enough for one origin). */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

/** One request with the jar's cookies; redirects are not followed. */
export async function send(url: string, jar: CookieJar, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const c = jar.header();
  if (c) headers.set('cookie', c);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

/** The value of a hidden input in a page. */
export function hiddenField(page: string, name: string): string | undefined {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(page);
  return m?.[1];
}

export function formAction(page: string): string | undefined {
  return /<form method="post" action="([^"]+)">/.exec(page)?.[1];
}

/** Sign in through the /login form; returns the answer to the POST. */
export async function signIn(base: string, jar: CookieJar, email: string, password: string, loginUrl = `${base}/login`): Promise<Response> {
  const form = await send(loginUrl, jar);
  const page = await form.text();
  const body = new URLSearchParams({ csrf_token: hiddenField(page, 'csrf_token') ?? '', email, password });
  const returnTo = hiddenField(page, 'return_to');
  if (returnTo) body.set('return_to', returnTo.replace(/&amp;/g, '&'));
  return send(`${base}/login`, jar, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
}

export interface FlowOptions {
  base: string;
  jar: CookieJar;
  /** Where the flow ends: the client's redirect URI (prefix). */
  redirectUri: string;
  login?: { email: string; password: string };
  /** What to answer on a consent page; 'none' fails if one is shown. */
  consent?: 'allow' | 'deny' | 'none';
}

export interface FlowResult {
  /** The final redirect to the client. */
  callback: URL;
  /** Whether a consent page was shown. */
  consentShown: boolean;
  consentPage?: string;
}

/** Follow /oauth/authorize through sign-in and consent to the redirect back to the client. */
export async function followAuthorization(startUrl: string, o: FlowOptions): Promise<FlowResult> {
  let url = startUrl;
  let consentShown = false;
  let consentPage: string | undefined;
  for (let hop = 0; hop < 15; hop++) {
    const res = await send(url, o.jar);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location')!;
      const next = new URL(location, url);
      if (location.startsWith(o.redirectUri)) return { callback: new URL(location), consentShown, consentPage };
      if (next.pathname.endsWith('/login') && o.login) {
        const r = await signIn(o.base, o.jar, o.login.email, o.login.password, next.href);
        if (r.status !== 303) throw new Error(`sign-in failed: ${r.status} ${await r.text()}`);
        url = new URL(r.headers.get('location')!, o.base).href;
        continue;
      }
      url = next.href;
      continue;
    }
    const page = await res.text();
    if (res.status === 200 && page.includes('name="decision"')) {
      consentShown = true;
      consentPage = page;
      if (o.consent === 'none' || o.consent === undefined) throw new Error('a consent page was shown');
      const r = await send(new URL(formAction(page)!, o.base).href, o.jar, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf_token: hiddenField(page, 'csrf_token')!, decision: o.consent }),
      });
      if (r.status !== 303) throw new Error(`consent failed: ${r.status} ${await r.text()}`);
      url = new URL(r.headers.get('location')!, o.base).href;
      continue;
    }
    throw new Error(`unexpected answer ${res.status} at ${url}: ${page.slice(0, 500)}`);
  }
  throw new Error('too many redirects');
}

/** A public client's view of one authorization: PKCE, state, the URL to open. */
export async function authorizationRequest(as: oauth.AuthorizationServer, p: { clientId: string; redirectUri: string; resource?: string; scope?: string; extra?: Record<string, string> }) {
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint!);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', p.clientId);
  url.searchParams.set('redirect_uri', p.redirectUri);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  if (p.scope !== undefined) url.searchParams.set('scope', p.scope);
  if (p.resource !== undefined) url.searchParams.set('resource', p.resource);
  for (const [k, v] of Object.entries(p.extra ?? {})) url.searchParams.set(k, v);
  return { url, verifier, state };
}

/** The authorization server's metadata, checked by oauth4webapi (issuer must match). */
export async function discover(base: string): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(base);
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
  return oauth.processDiscoveryResponse(issuer, res);
}

export { oauth };

/** A free TCP port on 127.0.0.1 (to put the gateway's own URL in its config before it listens). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as import('node:net').AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface ConnectedApp {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  redirectUri: string;
  resource: string;
  tokens: oauth.TokenEndpointResponse;
  flow: FlowResult;
}

/** Register a public client (DCR) unless one is given. */
export async function registerClient(as: oauth.AuthorizationServer, metadata: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const r = await fetch(as.registration_endpoint!, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(metadata) });
  if (r.status !== 201) throw new Error(`registration failed: ${r.status} ${await r.text()}`);
  return r.json();
}

/**
 * The whole authorization-code flow of a public client as an MCP client runs
 * it: authorize (sign-in and consent through the pages), check the answer
 * (state, iss), exchange the code with the PKCE verifier and the resource.
 */
export async function connect(
  base: string,
  p: { jar: CookieJar; clientId: string; redirectUri: string; resource: string; scope?: string; login?: { email: string; password: string }; consent?: 'allow' | 'none'; clientAuth?: oauth.ClientAuth },
): Promise<ConnectedApp> {
  const as = await discover(base);
  const client: oauth.Client = { client_id: p.clientId };
  const req = await authorizationRequest(as, { clientId: p.clientId, redirectUri: p.redirectUri, resource: p.resource, scope: p.scope ?? 'mcp:read mcp:execute' });
  const flow = await followAuthorization(req.url.href, { base, jar: p.jar, redirectUri: p.redirectUri, login: p.login, consent: p.consent ?? 'allow' });
  const params = oauth.validateAuthResponse(as, client, flow.callback, req.state);
  const res = await oauth.authorizationCodeGrantRequest(as, client, p.clientAuth ?? oauth.None(), params, p.redirectUri, req.verifier, {
    [oauth.allowInsecureRequests]: true,
    additionalParameters: { resource: p.resource },
  });
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, res);
  return { as, client, redirectUri: p.redirectUri, resource: p.resource, tokens, flow };
}

/** POST /oauth/token with a form (raw, for precise error assertions). */
export async function tokenForm(base: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  return { status: r.status, body: await r.json() };
}

/** Run the browser part of the flow (sign-in, consent) and return the code with its PKCE verifier, not exchanged. */
export async function obtainCode(
  base: string,
  p: { jar: CookieJar; clientId: string; redirectUri: string; resource: string; scope?: string; login?: { email: string; password: string } },
): Promise<{ code: string; verifier: string; state: string; callback: URL; as: oauth.AuthorizationServer }> {
  const as = await discover(base);
  const req = await authorizationRequest(as, { clientId: p.clientId, redirectUri: p.redirectUri, resource: p.resource, scope: p.scope ?? 'mcp:read mcp:execute' });
  const flow = await followAuthorization(req.url.href, { base, jar: p.jar, redirectUri: p.redirectUri, login: p.login, consent: 'allow' });
  const code = flow.callback.searchParams.get('code');
  if (!code) throw new Error(`no code: ${flow.callback.href}`);
  return { code, verifier: req.verifier, state: req.state, callback: flow.callback, as };
}
