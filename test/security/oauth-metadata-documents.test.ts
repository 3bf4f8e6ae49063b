/**
 * Client ID Metadata Documents (SPEC §10): the gateway fetches a URL a client
 * chose, so the fetch must not reach the gateway's own network, follow a
 * redirect, read a large body or wait long, and the document must be about
 * itself. Served here by a test server on 127.0.0.1 (with
 * `allow_loopback_http` where the test needs the fetch to happen).
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { cacheMs, checkDocument, hostMatches } from '../../src/oauth/cimd.js';
import { isPublicAddress } from '../../src/oauth/safe-fetch.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { authorizationRequest, connect, CookieJar, discover, send, signIn } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'http://127.0.0.1:7003/cb';

describe('metadata document fetch rules', () => {
  let docs: Server;
  let docBase: string;
  const hits: string[] = [];
  let connections = 0;
  let up: FixtureUpstream;
  let loop: OAuthGateway;
  let strict: OAuthGateway;
  let allowed: OAuthGateway;
  const jar = new CookieJar();

  const doc = (path: string, extra: Record<string, unknown> = {}) => JSON.stringify({ client_id: `${docBase}${path}`, client_name: 'Doc Client', redirect_uris: [REDIRECT], ...extra });

  beforeAll(async () => {
    docs = createServer((req, res) => {
      const path = req.url ?? '';
      hits.push(path);
      const json = (body: string, headers: Record<string, string> = {}) => res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(body);
      switch (path) {
        case '/good.json':
          return json(doc(path), { 'cache-control': 'max-age=60' });
        case '/liar.json':
          return json(doc(path, { client_id: 'https://claude.ai/oauth/mcp-oauth-client-metadata' }));
        case '/redirect.json':
          return res.writeHead(302, { location: '/good.json' }).end();
        case '/large.json':
          return json(doc(path, { padding: 'x'.repeat(6 * 1024) }));
        case '/secret.json':
          return json(doc(path, { client_secret: 'shared', token_endpoint_auth_method: 'client_secret_basic' }));
        case '/no-redirects.json':
          return json(JSON.stringify({ client_id: `${docBase}${path}`, client_name: 'x' }));
        case '/bad-redirect.json':
          return json(doc(path, { redirect_uris: ['http://evil.example/cb'] }));
        case '/slow.json':
          setTimeout(() => (res.destroyed ? undefined : json(doc(path))), 6_500).unref();
          return;
        default:
          res.writeHead(404).end();
      }
    });
    docs.on('connection', () => connections++);
    await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
    docBase = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
    up = await startHttpUpstream();
    const servers = [{ name: 'demo', url: up.url }];
    loop = await startOAuthGateway({ servers, auth: { authorization_server: { client_id_metadata_documents: { allow_loopback_http: true } } } });
    strict = await startOAuthGateway({ servers });
    allowed = await startOAuthGateway({ servers, auth: { authorization_server: { client_id_metadata_documents: { allowed_hosts: ['claude.ai', '*.example.org'] } } } });
    await loop.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    expect((await signIn(loop.base, jar, 'ann@example.com', PASSWORD)).status).toBe(303);
  });
  afterAll(async () => {
    for (const g of [loop, strict, allowed]) await g?.close();
    await up?.close();
    docs?.closeAllConnections();
    await new Promise<void>((r) => docs?.close(() => r()));
  });

  /** GET /oauth/authorize for a metadata-document client: the answer (an error page unless the document is fine). */
  async function authorize(gw: OAuthGateway, clientId: string) {
    const req = await authorizationRequest(await discover(gw.base), { clientId, redirectUri: REDIRECT, resource: `${gw.base}/mcp/demo`, scope: 'mcp:read' });
    return send(req.url.href, jar);
  }
  async function expectRefused(gw: OAuthGateway, clientId: string, message: RegExp) {
    const r = await authorize(gw, clientId);
    expect(r.status).toBe(400);
    expect(r.headers.get('location')).toBeNull();
    const page = await r.text();
    expect(page).toContain('<code>invalid_client</code>');
    expect(page).toMatch(message);
  }

  it('a valid document is fetched, and its client signs in like any other (a public client)', async () => {
    const a = await connect(loop.base, { jar, clientId: `${docBase}/good.json`, redirectUri: REDIRECT, resource: `${loop.base}/mcp/demo` });
    expect(a.flow.consentPage).toContain('Doc Client');
    expect(a.tokens.access_token).toBeTruthy();
    expect(hits.filter((h) => h === '/good.json')).toHaveLength(1); // cached per Cache-Control for the code exchange
  });

  it('a document whose client_id is not its own URL is refused', async () => {
    await expectRefused(loop, `${docBase}/liar.json`, /client_id is not its URL/);
  });

  it('a redirect is not followed', async () => {
    hits.length = 0;
    await expectRefused(loop, `${docBase}/redirect.json`, /redirect/);
    expect(hits).toEqual(['/redirect.json']);
  });

  it('a document over 5 KiB is refused', async () => {
    await expectRefused(loop, `${docBase}/large.json`, /larger than 5120 bytes/);
  });

  it('a document that does not answer within 5 s is refused', { timeout: 20_000 }, async () => {
    const t0 = Date.now();
    await expectRefused(loop, `${docBase}/slow.json`, /within 5000 ms/);
    expect(Date.now() - t0).toBeLessThan(6_500);
  });

  it('a document with a client secret, without redirect_uris, or with a bad redirect URI is refused', async () => {
    await expectRefused(loop, `${docBase}/secret.json`, /client secret/);
    await expectRefused(loop, `${docBase}/no-redirects.json`, /redirect_uris/);
    await expectRefused(loop, `${docBase}/bad-redirect.json`, /loopback host/);
  });

  it('without allow_loopback_http: loopback and private addresses are never fetched, literal or resolved', async () => {
    const port = (docs.address() as AddressInfo).port;
    const before = connections;
    await expectRefused(strict, `https://127.0.0.1:${port}/good.json`, /not public/);
    await expectRefused(strict, `https://localhost:${port}/good.json`, /not public/); // resolved to 127.0.0.1 / ::1
    await expectRefused(strict, 'https://10.0.0.1/client.json', /not public/);
    await expectRefused(strict, 'https://[::1]/client.json', /not public/);
    await expectRefused(strict, 'https://169.254.169.254/latest/meta-data', /not public/);
    await expectRefused(strict, `${docBase}/good.json`, /must use https/);
    expect(connections).toBe(before);
  });

  it('allowed_hosts limits which hosts documents come from (no fetch otherwise)', async () => {
    await expectRefused(allowed, 'https://evil.example.com/client.json', /not accepted here/);
    await expectRefused(allowed, 'https://example.org/client.json', /not accepted here/);
    expect(hostMatches('*.example.org', 'app.example.org')).toBe(true);
    expect(hostMatches('*.example.org', 'example.org')).toBe(false);
    expect(hostMatches('claude.ai', 'CLAUDE.AI')).toBe(true);
  });

  it('a client_id URL must have a path, no fragment, no user info, and be in normalized form', async () => {
    for (const id of ['https://app.example.com', 'https://app.example.com/', 'https://user@app.example.com/c.json', 'https://APP.example.com/c.json', 'https://app.example.com/a/../c.json']) {
      await expectRefused(strict, id, /./);
    }
  });

  it('only globally routable addresses are public', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', '64:ff9b::a00:1', '2001:db8::1'])
      expect(isPublicAddress(a), a).toBe(false);
    for (const a of ['1.1.1.1', '8.8.8.8', '2606:4700:4700::1111']) expect(isPublicAddress(a), a).toBe(true);
  });

  it('document checks and cache lifetime', () => {
    const id = 'https://app.example.com/c.json';
    expect(checkDocument(id, Buffer.from(JSON.stringify({ client_id: id, redirect_uris: ['vscode://x/cb'] })))).toMatchObject({ token_endpoint_auth_method: 'none', application_type: 'native' });
    expect(() => checkDocument(id, Buffer.from('[]'))).toThrow(/JSON object/);
    // the shape Claude publishes at its client_id URL
    const claude = 'https://claude.ai/oauth/mcp-oauth-client-metadata';
    expect(
      checkDocument(claude, Buffer.from(JSON.stringify({
        client_id: claude, client_name: 'Claude', client_uri: 'https://claude.ai', logo_uri: 'https://claude.ai/logo.png',
        redirect_uris: ['https://claude.ai/api/mcp/auth_callback'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
      }))),
    ).toEqual({
      client_id: claude, client_name: 'Claude', client_uri: 'https://claude.ai', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'web',
    });
    expect(cacheMs('no-store')).toBe(0);
    expect(cacheMs('public, max-age=999999')).toBe(24 * 3_600_000);
    expect(cacheMs('max-age=60')).toBe(60_000);
    expect(cacheMs(undefined)).toBe(5 * 60_000);
  });
});
