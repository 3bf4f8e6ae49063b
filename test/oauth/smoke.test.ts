import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { rpc } from '../helpers/mcp.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';
import { authorizationRequest, CookieJar, discover, followAuthorization, oauth } from '../helpers/oauth.js';
import { hashPassword } from '../../src/auth/passwords.js';

describe('smoke', () => {
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startOAuthGateway({ servers: [{ name: 'demo', url: up.url }], groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }] });
    await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword('correct horse battery'), role: 'user', groups: ['eng'] });
  });
  afterAll(async () => { await gw?.close(); await up?.close(); });

  it('runs', async () => {
    const as = await discover(gw.base);
    console.log(as);
    const reg = await fetch(as.registration_endpoint!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9999/cb'], client_name: 'Smoke' }) });
    const client = await reg.json();
    console.log(reg.status, client);
    const req = await authorizationRequest(as, { clientId: client.client_id, redirectUri: 'http://127.0.0.1:9999/cb', resource: `${gw.base}/mcp/demo`, scope: 'mcp:read mcp:execute' });
    const jar = new CookieJar();
    const r = await followAuthorization(req.url.href, { base: gw.base, jar, redirectUri: 'http://127.0.0.1:9999/cb', login: { email: 'ann@example.com', password: 'correct horse battery' }, consent: 'allow' });
    console.log(r.callback.href);
    const c: oauth.Client = { client_id: client.client_id };
    const params = oauth.validateAuthResponse(as, c, r.callback, req.state);
    const tr = await oauth.authorizationCodeGrantRequest(as, c, oauth.None(), params, 'http://127.0.0.1:9999/cb', req.verifier, { [oauth.allowInsecureRequests]: true, additionalParameters: { resource: `${gw.base}/mcp/demo` } });
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, tr);
    console.log(tokens);
    const init = await rpc(`${gw.base}/mcp/demo`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, { authorization: `Bearer ${tokens.access_token}` });
    console.log(init.status, init.text.slice(0, 300));
  });
});
