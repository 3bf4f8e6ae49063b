/**
 * The OAuth 2.1 authorization server for MCP clients (SPEC §10) over real
 * HTTP, on every backend: discovery, dynamic registration, sign-in and
 * consent through the pages, code exchange (oauth4webapi as the client),
 * tokens at the MCP endpoint with the user's current grants, refresh
 * rotation, revocation, and management of authorizations and clients.
 */
import { OAuthMetadataSchema, OAuthProtectedResourceMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/auth/passwords.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { bearer } from '../helpers/app.js';
import { runCli } from '../helpers/binary.js';
import { BACKENDS } from '../helpers/db.js';
import { rawInitialize, rpc, sseMessages } from '../helpers/mcp.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { connect, CookieJar, discover, oauth, registerClient, send, signIn, tokenForm } from '../helpers/oauth.js';

const PASSWORD = 'correct horse battery';
const JWT_SECRET = 'an-hs256-secret-of-at-least-32-bytes!!';
const CONFIDENTIAL_SECRET = 'a-pre-registered-client-secret-of-40-chars';

/** JSON-RPC through the gateway with a bearer token; the messages of the (SSE or JSON) answer. */
async function call(url: string, token: string, sid: string, msg: object) {
  const r = await rpc(url, { jsonrpc: '2.0', ...msg }, { authorization: `Bearer ${token}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
  return { status: r.status, headers: r.headers, messages: r.text.startsWith('{') ? [r.json()] : sseMessages(r.text) };
}

describe.each(BACKENDS)('authorization server on %s', (backend) => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let base: string;
  let demo: string;
  let userId: string;
  let adminToken: string;
  const jar = new CookieJar();
  const redirectUri = 'http://127.0.0.1:7777/callback';

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway(
      {
        servers: [
          { name: 'demo', url: up.url },
          { name: 'other', url: up.url },
        ],
        groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }],
        auth: {
          providers: [{ type: 'jwt', name: 'corp', issuer: 'https://idp.example.com', audience: 'portcullis', algorithms: ['HS256'], secret_env: 'CORP_SECRET', advertise: true }],
          authorization_server: {
            clients: [
              { client_id: 'desk-app', client_name: 'Desk App', redirect_uris: ['https://desk.example.com/cb'], client_secret_env: 'DESK_SECRET' },
              { client_id: 'cli-app', client_name: 'CLI App', redirect_uris: ['http://127.0.0.1/callback'] },
            ],
          },
        },
      },
      { backend, env: { CORP_SECRET: JWT_SECRET, DESK_SECRET: CONFIDENTIAL_SECRET } },
    );
    base = gw.base;
    demo = `${base}/mcp/demo`;
    const admin = await gw.t.store.users.create({ email: 'root@example.com', passwordHash: await hashPassword(PASSWORD), role: 'admin' });
    adminToken = (await gw.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'root@example.com', password: PASSWORD } })).json().token;
    expect(admin.role).toBe('admin');
    userId = (await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user', groups: ['eng'] })).id;
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('serves metadata every MCP client parses: RFC 8414 (twice) and RFC 9728 with the advertised issuers', async () => {
    const docs = await Promise.all(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'].map(async (p) => (await fetch(base + p)).json()));
    expect(docs[0]).toEqual(docs[1]);
    const m = OAuthMetadataSchema.parse(docs[0]);
    expect(m).toMatchObject({
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      revocation_endpoint: `${base}/oauth/revoke`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
    expect(m.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(m.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['none', 'client_secret_basic', 'client_secret_post']));
    expect(m.scopes_supported).toEqual(expect.arrayContaining(['mcp:read', 'mcp:execute']));
    expect(docs[0]).not.toHaveProperty('jwks_uri'); // HS256 signing: no public key
    for (const [path, resource] of [['/.well-known/oauth-protected-resource/mcp/demo', demo], ['/.well-known/oauth-protected-resource/mcp', `${base}/mcp`]]) {
      const prm = OAuthProtectedResourceMetadataSchema.parse(await (await fetch(base + path)).json());
      expect(prm.resource).toBe(resource);
      expect(prm.authorization_servers).toEqual([base, 'https://idp.example.com']);
    }
  });

  describe('dynamic registration', () => {
    it('registers a public client: 201 with a client_id and no secret; loopback and private-use redirect URIs make it native', async () => {
      const as = await discover(base);
      const c = await registerClient(as, { client_name: 'Cursor', redirect_uris: ['cursor://anysphere.cursor-retrieval/oauth/callback', 'http://127.0.0.1:3334/cb'] });
      expect(c.client_id).toMatch(/^pco_/);
      expect(c).not.toHaveProperty('client_secret');
      expect(c).not.toHaveProperty('registration_access_token');
      expect(c).toMatchObject({ token_endpoint_auth_method: 'none', application_type: 'native', grant_types: ['authorization_code', 'refresh_token'] });
    });

    it('accepts the redirect URIs of real clients’ documented flows, and starts their authorization', async () => {
      const documented: Record<string, string[]> = {
        'Claude (web, desktop, mobile)': ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'],
        'ChatGPT connectors': ['https://chatgpt.com/connector_platform_oauth_redirect'],
        'VS Code': ['http://127.0.0.1:33418', 'https://vscode.dev/redirect'],
        Cursor: ['cursor://anysphere.cursor-retrieval/oauth/user-demo/callback'],
        'Claude Code': ['http://localhost:54321/callback'],
        'MCP Inspector': ['http://localhost:6274/oauth/callback', 'http://localhost:6274/oauth/callback/debug'],
      };
      const as = await discover(base);
      const { authorizationRequest } = await import('../helpers/oauth.js');
      for (const [name, uris] of Object.entries(documented)) {
        const c = await registerClient(as, { client_name: name, redirect_uris: uris, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
        // loopback clients come back on the port they happen to listen on (RFC 8252)
        const back = uris[0].replace(':54321/', ':60001/');
        const req = await authorizationRequest(as, { clientId: c.client_id, redirectUri: back, resource: demo, scope: 'mcp:read mcp:execute' });
        const r = await fetch(req.url, { redirect: 'manual' });
        expect(r.status, name).toBe(303);
        expect(new URL(r.headers.get('location')!, base).pathname, name).toMatch(/^\/oauth\/interaction\//);
      }
    });

    it('refuses redirect URIs that are not https, loopback http or a private-use scheme (400 invalid_redirect_uri)', async () => {
      for (const uri of ['http://evil.example/cb', 'https://a.example/cb#frag', 'javascript:alert(1)', 'data:text/html,x', 'https://user:pw@a.example/cb', 'not a uri']) {
        const r = await fetch(`${base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [uri] }) });
        expect(r.status, uri).toBe(400);
        expect((await r.json()).error).toBe('invalid_redirect_uri');
      }
      const none = await fetch(`${base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'x' }) });
      expect((await none.json()).error).toBe('invalid_redirect_uri');
    });

    it('open registration takes public clients only; other grants are invalid_client_metadata', async () => {
      for (const meta of [
        { redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'client_secret_basic' },
        { redirect_uris: ['https://a.example/cb'], grant_types: ['client_credentials'] },
        { redirect_uris: ['https://a.example/cb'], response_types: ['token'] },
      ]) {
        const r = await fetch(`${base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
        expect(r.status).toBe(400);
        expect((await r.json()).error).toBe('invalid_client_metadata');
      }
    });
  });

  describe('sign-in, consent and tokens', () => {
    let clientId: string;
    let app: Awaited<ReturnType<typeof connect>>;

    beforeAll(async () => {
      clientId = (await registerClient(await discover(base), { client_name: 'Test Client', redirect_uris: [redirectUri] })).client_id;
    });

    it('signs in, shows the consent page naming client, redirect host, server and scopes, and returns a code (state, iss)', async () => {
      app = await connect(base, { jar, clientId, redirectUri, resource: demo, login: { email: 'ann@example.com', password: PASSWORD } });
      expect(app.flow.consentShown).toBe(true);
      const page = app.flow.consentPage!;
      expect(page).toContain('Test Client');
      expect(page).toContain('127.0.0.1:7777');
      expect(page).toContain('<code>demo</code>');
      expect(page).toContain('<code>mcp:read</code>');
      expect(page).toContain('<code>mcp:execute</code>');
      expect(page).toMatch(/<button type="submit" name="decision" value="allow">Allow<\/button>/);
      expect(page).toMatch(/value="deny"[^>]*>Deny<\/button>/);
      expect(app.flow.callback.searchParams.get('iss')).toBe(base);
      expect(app.tokens.token_type).toBe('bearer'); // oauth4webapi lower-cases it; the raw answer is checked below
      expect(app.tokens.scope).toBe('mcp:read mcp:execute');
      expect(app.tokens.refresh_token).toBeTruthy();
    });

    it('the access token is a JWT bound to the resource, and works there with the user’s grants only', async () => {
      const claims = JSON.parse(Buffer.from(app.tokens.access_token.split('.')[1], 'base64url').toString());
      expect(claims).toMatchObject({ aud: demo, iss: base, sub: userId, client_id: clientId, scope: 'mcp:read mcp:execute' });
      up.reset();
      const sid = await rawInitialize(demo, bearer(app.tokens.access_token));
      const tools = await call(demo, app.tokens.access_token, sid, { id: 2, method: 'tools/list' });
      expect(tools.messages[0].result.tools.map((t: { name: string }) => t.name)).toEqual(['echo']);
      const echo = await call(demo, app.tokens.access_token, sid, { id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
      expect(echo.messages[0].result.content[0].text).toBe('echo: hi');
      const denied = await call(demo, app.tokens.access_token, sid, { id: 4, method: 'tools/call', params: { name: 'secret_tool', arguments: {} } });
      expect(denied.messages[0].error.code).toBe(-32003);
      expect(up.toolCalls()).toEqual(['echo']);
    });

    it('a group change applies to the very next request (the user’s current grants, not the token’s)', async () => {
      const sid = await rawInitialize(demo, bearer(app.tokens.access_token));
      await gw.t.store.users.update(userId, { groups: [] });
      gw.t.app.services.bus.publish({ kind: 'user', id: userId });
      try {
        // no group left: nothing on the server is the user's any more
        const tools = await call(demo, app.tokens.access_token, sid, { id: 2, method: 'tools/list' });
        expect(tools.messages[0].error.code).toBe(-32003);
      } finally {
        await gw.t.store.users.update(userId, { groups: ['eng'] });
        gw.t.app.services.bus.publish({ kind: 'user', id: userId });
      }
    });

    it('a remembered consent is not asked again for the same client, resource and scopes; more scopes are asked for', async () => {
      const again = await connect(base, { jar, clientId, redirectUri, resource: demo, consent: 'none' });
      expect(again.flow.consentShown).toBe(false);
      const fresh = (await registerClient(await discover(base), { client_name: 'Narrow', redirect_uris: [redirectUri] })).client_id;
      expect((await connect(base, { jar, clientId: fresh, redirectUri, resource: demo, scope: 'mcp:read' })).flow.consentShown).toBe(true);
      expect((await connect(base, { jar, clientId: fresh, redirectUri, resource: demo, scope: 'mcp:read', consent: 'none' })).flow.consentShown).toBe(false);
      const more = await connect(base, { jar, clientId: fresh, redirectUri, resource: demo, scope: 'mcp:read mcp:execute' });
      expect(more.flow.consentShown).toBe(true);
      // another resource is another consent
      expect((await connect(base, { jar, clientId: fresh, redirectUri, resource: `${base}/mcp/other`, scope: 'mcp:read' })).flow.consentShown).toBe(true);
    });

    it('a token with mcp:read only gets the step-up challenge when it calls a tool (403 insufficient_scope)', async () => {
      const read = await connect(base, { jar, clientId, redirectUri, resource: demo, scope: 'mcp:read', consent: 'none' });
      expect(read.tokens.scope).toBe('mcp:read');
      const sid = await rawInitialize(demo, bearer(read.tokens.access_token));
      up.reset();
      const r = await call(demo, read.tokens.access_token, sid, { id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } });
      expect(r.status).toBe(403);
      expect(r.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", scope="mcp:execute", resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/demo"`);
      expect(up.toolCalls()).toEqual([]);
    });

    it('refresh tokens rotate; reusing a used one fails and ends its whole family on the next request', async () => {
      const r1 = await oauth.refreshTokenGrantRequest(app.as, app.client, oauth.None(), app.tokens.refresh_token!, { [oauth.allowInsecureRequests]: true, additionalParameters: { resource: demo } });
      const t1 = await oauth.processRefreshTokenResponse(app.as, app.client, r1);
      expect(t1.refresh_token).toBeTruthy();
      expect(t1.refresh_token).not.toBe(app.tokens.refresh_token);
      expect((await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(t1.access_token))).status).not.toBe(401);
      const reuse = await tokenForm(base, { grant_type: 'refresh_token', refresh_token: app.tokens.refresh_token!, client_id: clientId });
      expect(reuse.status).toBe(400);
      expect(reuse.body.error).toBe('invalid_grant');
      const refused = await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(t1.access_token));
      expect(refused.status).toBe(401);
      expect(refused.json().error.data.code).toBe('invalid_token');
      expect((await tokenForm(base, { grant_type: 'refresh_token', refresh_token: t1.refresh_token!, client_id: clientId })).body.error).toBe('invalid_grant');
    });

    it('POST /oauth/revoke with a refresh token ends its family (its access tokens too)', async () => {
      const fresh = await connect(base, { jar, clientId, redirectUri, resource: demo });
      const ok = await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(fresh.tokens.access_token));
      expect(ok.status).not.toBe(401);
      const r = await fetch(`${base}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: fresh.tokens.refresh_token!, client_id: clientId }) });
      expect(r.status).toBe(200);
      expect((await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(fresh.tokens.access_token))).status).toBe(401);
    });

    it('Deny redirects back with error=access_denied, state and iss; no code', async () => {
      const as = await discover(base);
      const { authorizationRequest, followAuthorization } = await import('../helpers/oauth.js');
      const req = await authorizationRequest(as, { clientId, redirectUri, resource: `${base}/mcp`, scope: 'mcp:read' });
      const flow = await followAuthorization(req.url.href, { base, jar, redirectUri, consent: 'deny' });
      expect(flow.callback.searchParams.get('error')).toBe('access_denied');
      expect(flow.callback.searchParams.get('state')).toBe(req.state);
      expect(flow.callback.searchParams.get('iss')).toBe(base);
      expect(flow.callback.searchParams.get('code')).toBeNull();
    });
  });

  describe('pre-registered clients', () => {
    it('a confidential client from the config authenticates with its secret (client_secret_basic)', async () => {
      const a = await connect(base, {
        jar, clientId: 'desk-app', redirectUri: 'https://desk.example.com/cb', resource: demo,
        clientAuth: oauth.ClientSecretBasic(CONFIDENTIAL_SECRET),
      });
      expect(a.tokens.access_token).toBeTruthy();
      const wrong = await tokenForm(base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token! }, { authorization: 'Basic ' + Buffer.from('desk-app:wrong').toString('base64') });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error).toBe('invalid_client');
    });

    it('a public loopback client may come back on any port (RFC 8252)', async () => {
      const a = await connect(base, { jar, clientId: 'cli-app', redirectUri: 'http://127.0.0.1:51234/callback', resource: demo });
      expect(a.tokens.access_token).toBeTruthy();
    });
  });

  describe('management', () => {
    it('people list their authorizations and end one: its tokens stop at once', async () => {
      const clientId = (await registerClient(await discover(base), { client_name: 'Listed', redirect_uris: [redirectUri] })).client_id;
      const a = await connect(base, { jar, clientId, redirectUri, resource: demo });
      const login = (await gw.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ann@example.com', password: PASSWORD } })).json().token;
      const list = await gw.t.inject({ method: 'GET', url: '/api/v1/auth/authorizations', headers: bearer(login) });
      expect(list.statusCode).toBe(200);
      const mine = list.json().authorizations.find((x: { client_id: string }) => x.client_id === clientId);
      expect(mine).toMatchObject({ client_name: 'Listed', resource: demo, scopes: ['mcp:read', 'mcp:execute'] });
      expect(mine.last_used_at).not.toBeNull();
      // another user cannot end it
      expect((await gw.t.inject({ method: 'DELETE', url: `/api/v1/auth/authorizations/${mine.id}`, headers: bearer(adminToken) })).statusCode).toBe(404);
      expect((await gw.t.inject({ method: 'DELETE', url: `/api/v1/auth/authorizations/${mine.id}`, headers: bearer(login) })).statusCode).toBe(204);
      expect((await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(a.tokens.access_token))).status).toBe(401);
      expect((await tokenForm(base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token!, client_id: clientId })).body.error).toBe('invalid_grant');
      // the consent is forgotten too
      const again = await connect(base, { jar, clientId, redirectUri, resource: demo });
      expect(again.flow.consentShown).toBe(true);
    });

    it('admins list clients by source and delete one: every token of the client ends; config clients are read-only', async () => {
      const clientId = (await registerClient(await discover(base), { client_name: 'Doomed', redirect_uris: [redirectUri] })).client_id;
      const a = await connect(base, { jar, clientId, redirectUri, resource: demo });
      const list = (await gw.t.inject({ method: 'GET', url: '/api/v1/oauth/clients', headers: bearer(adminToken) })).json().clients;
      expect(list.find((c: { client_id: string }) => c.client_id === clientId)).toMatchObject({ source: 'dynamic', client_name: 'Doomed', authorizations: 1 });
      expect(list.find((c: { client_id: string }) => c.client_id === 'desk-app')).toMatchObject({ source: 'config', token_endpoint_auth_method: 'client_secret_basic' });
      expect(JSON.stringify(list)).not.toContain(CONFIDENTIAL_SECRET);
      const userToken = (await gw.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ann@example.com', password: PASSWORD } })).json().token;
      expect((await gw.t.inject({ method: 'GET', url: '/api/v1/oauth/clients', headers: bearer(userToken) })).statusCode).toBe(403);
      expect((await gw.t.inject({ method: 'DELETE', url: '/api/v1/oauth/clients/desk-app', headers: bearer(adminToken) })).json().code).toBe('read_only');
      expect((await gw.t.inject({ method: 'DELETE', url: `/api/v1/oauth/clients/${clientId}`, headers: bearer(adminToken) })).statusCode).toBe(204);
      expect((await rpc(demo, { jsonrpc: '2.0', id: 1, method: 'ping' }, bearer(a.tokens.access_token))).status).toBe(401);
      expect((await gw.t.inject({ method: 'DELETE', url: `/api/v1/oauth/clients/${clientId}`, headers: bearer(adminToken) })).statusCode).toBe(404);
    });

    it.runIf(backend === 'sqlite')('the CLI lists clients and deletes one (its refresh tokens stop at once)', { timeout: 90_000 }, async () => {
      const clientId = (await registerClient(await discover(base), { client_name: 'From CLI', redirect_uris: [redirectUri] })).client_id;
      const a = await connect(base, { jar, clientId, redirectUri, resource: demo });
      const dir = mkdtempSync(join(tmpdir(), 'pcl-oauth-cli-'));
      try {
        const file = join(dir, 'portcullis.yaml');
        writeFileSync(file, stringify({ storage: { url: gw.t.config.storage.url }, logging: { level: 'silent' }, auth: { authorization_server: { clients: gw.t.config.auth.authorization_server.clients.map(({ client_secret: _s, ...c }) => c) }, providers: [{ type: 'jwt', name: 'corp', issuer: 'https://idp.example.com', audience: 'portcullis', algorithms: ['HS256'], secret_env: 'CORP_SECRET' }] } }));
        const env = { CORP_SECRET: JWT_SECRET, DESK_SECRET: CONFIDENTIAL_SECRET };
        const list = await runCli(['--config', file, '--json', 'oauth', 'clients', 'list'], { env });
        expect(list.code, list.stderr).toBe(0);
        const clients = JSON.parse(list.stdout);
        expect(clients.find((c: { client_id: string }) => c.client_id === clientId)).toMatchObject({ source: 'dynamic', client_name: 'From CLI', authorizations: 1 });
        expect(list.stdout).not.toContain(CONFIDENTIAL_SECRET);
        const human = await runCli(['--config', file, 'oauth', 'clients', 'list'], { env });
        expect(human.stdout).toMatch(/^CLIENT_ID\s+NAME\s+SOURCE/m);
        const del = await runCli(['--config', file, 'oauth', 'clients', 'delete', clientId], { env });
        expect(del.code, del.stderr).toBe(0);
        expect(del.stdout).toContain(`deleted OAuth client ${clientId}`);
        expect((await tokenForm(base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token!, client_id: clientId })).status).not.toBe(200);
        const config = await runCli(['--config', file, 'oauth', 'clients', 'delete', 'desk-app'], { env });
        expect(config.code).toBe(1);
        expect(config.stderr).toContain('config file');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('audits registrations, consents, codes issued and redeemed, reuse and revocations; counts them', async () => {
      await gw.t.app.services.audit.flush();
      const actions = new Set((await gw.t.store.audit.query({ limit: 1000 })).map((e: { action: string }) => e.action));
      for (const a of ['oauth.client_registered', 'oauth.consent', 'oauth.code_issued', 'oauth.code_redeemed', 'oauth.reuse_detected', 'oauth.grant_revoked', 'oauth.client_deleted', 'auth.login'])
        expect(actions, a).toContain(a);
      const metrics = (await gw.t.app.services.metrics.render()).body;
      for (const m of ['portcullis_oauth_registrations_total{kind="dynamic"}', 'portcullis_oauth_codes_issued_total', 'portcullis_oauth_consents_total{decision="allow"}', 'portcullis_oauth_reuse_detected_total{kind="refresh_token"}'])
        expect(metrics).toMatch(new RegExp(`^${m.replace(/[{}"]/g, (c) => `\\${c}`)} [1-9]`, 'm'));
      const text = JSON.stringify(await gw.t.store.audit.query({ limit: 1000 }));
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(CONFIDENTIAL_SECRET);
    });
  });

  describe('browser sessions at /api/v1', () => {
    it('a signed-in browser reads /api/v1 with its cookie; a state-changing call needs X-CSRF-Token', async () => {
      const b = new CookieJar();
      expect((await signIn(base, b, 'ann@example.com', PASSWORD)).status).toBe(303);
      const me = await send(`${base}/api/v1/auth/me`, b);
      expect(me.status).toBe(200);
      const body = await me.json();
      expect(body.auth.method).toBe('browser_session');
      const csrf: string = body.auth.csrf_token;
      const create = (headers: Record<string, string>) => send(`${base}/api/v1/auth/tokens`, b, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'from-browser' }) });
      const without = await create({});
      expect(without.status).toBe(403);
      expect((await without.json()).code).toBe('csrf_failed');
      expect((await create({ 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
      expect((await create({ 'x-csrf-token': csrf })).status).toBe(201);
    });

    it('the session ends at a password change (other sessions) and when the user is disabled', async () => {
      const email = `pw-${Date.now()}@example.com`;
      const u = await gw.t.store.users.create({ email, passwordHash: await hashPassword(PASSWORD), role: 'user' });
      const one = new CookieJar();
      const two = new CookieJar();
      await signIn(base, one, email, PASSWORD);
      await signIn(base, two, email, PASSWORD);
      const csrf = (await (await send(`${base}/api/v1/auth/me`, one)).json()).auth.csrf_token;
      const change = await send(`${base}/api/v1/auth/password`, one, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ current_password: PASSWORD, new_password: 'another long password' }) });
      expect(change.status).toBe(204);
      expect((await send(`${base}/api/v1/auth/me`, two)).status).toBe(401);
      expect((await send(`${base}/api/v1/auth/me`, one)).status).toBe(200);
      await gw.t.inject({ method: 'PUT', url: `/api/v1/users/${u.id}`, headers: bearer(adminToken), payload: { disabled: true } });
      expect((await send(`${base}/api/v1/auth/me`, one)).status).toBe(401);
    });
  });
});

describe('registration modes', () => {
  let up: FixtureUpstream;
  let admin: OAuthGateway;
  let off: OAuthGateway;
  const redirectUri = 'https://app.example.com/cb';

  beforeAll(async () => {
    up = await startHttpUpstream();
    admin = await startOAuthGateway({ servers: [{ name: 'demo', url: up.url }], auth: { authorization_server: { dynamic_registration: 'admin' } } });
    off = await startOAuthGateway({ servers: [{ name: 'demo', url: up.url }], auth: { authorization_server: { dynamic_registration: 'off' } } });
    for (const g of [admin, off]) {
      await g.t.store.users.create({ email: 'root@example.com', passwordHash: await hashPassword(PASSWORD), role: 'admin' });
      await g.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user' });
    }
  });
  afterAll(async () => {
    await admin?.close();
    await off?.close();
    await up?.close();
  });

  const login = async (g: OAuthGateway, email: string) => (await g.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } })).json().token as string;
  const register = (g: OAuthGateway, body: object, headers: Record<string, string> = {}) =>
    fetch(`${g.base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('admin: only an admin credential registers; a confidential client gets its secret once, stored as a digest, and authenticates with it', async () => {
    expect((await register(admin, { redirect_uris: [redirectUri] })).status).toBe(401);
    const user = await register(admin, { redirect_uris: [redirectUri] }, bearer(await login(admin, 'ann@example.com')));
    expect(user.status).toBe(403);
    expect((await user.json()).code).toBe('forbidden');
    const r = await register(admin, { client_name: 'Confidential', redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_post' }, bearer(await login(admin, 'root@example.com')));
    expect(r.status).toBe(201);
    const c = await r.json();
    expect(c.client_secret).toMatch(/^pcos_/);
    const stored = await admin.t.store.oauth.find('Client', c.client_id);
    expect(stored!.payload).not.toContain(c.client_secret);
    const jar = new CookieJar();
    await signIn(admin.base, jar, 'ann@example.com', PASSWORD);
    const a = await connect(admin.base, { jar, clientId: c.client_id, redirectUri, resource: `${admin.base}/mcp/demo`, clientAuth: oauth.ClientSecretPost(c.client_secret) });
    expect(a.tokens.access_token).toBeTruthy();
    const wrong = await tokenForm(admin.base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token!, client_id: c.client_id, client_secret: 'pcos_wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    // the digest itself is not a secret that works
    const digest = JSON.parse(stored!.payload).client_secret;
    expect((await tokenForm(admin.base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token!, client_id: c.client_id, client_secret: digest })).body.error).toBe('invalid_client');
    const right = await tokenForm(admin.base, { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token!, client_id: c.client_id, client_secret: c.client_secret });
    expect(right.status).toBe(200);
  });

  it('off: no registration endpoint in the metadata, and /oauth/register is 404', async () => {
    const m = await (await fetch(`${off.base}/.well-known/oauth-authorization-server`)).json();
    expect(m).not.toHaveProperty('registration_endpoint');
    expect(m.authorization_endpoint).toBe(`${off.base}/oauth/authorize`);
    expect((await register(off, { redirect_uris: [redirectUri] })).status).toBe(404);
  });
});
