/**
 * Principal ids of different kinds never collide: users are UUIDs, service
 * accounts `sa:<client_id>`, external identities `<provider>:<subject>` with
 * provider names that cannot be `sa` (or `unknown`, the failed-login actor's
 * prefix). A provider named `sa` used to give an external subject the id of a
 * service account, and with it that account's MCP sessions, rate-limit
 * budget and stored upstream credentials.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { register, testConfig } from '../helpers/app.js';
import { makeKey, signToken, startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { clientCredentialsToken, createServiceAccount } from '../helpers/service-accounts.js';

describe('security: a provider cannot take a name that other principal ids begin with', () => {
  const provider = (type: string, name: string): Record<string, unknown> =>
    type === 'static'
      ? { type, name, tokens: [{ name: 'sa_0123456789abcdef01234567', token_sha256: 'a'.repeat(64) }] }
      : type === 'jwt'
        ? { type, name, issuer: 'https://idp.example', audience: 'gw', algorithms: ['RS256'], jwks_uri: 'https://idp.example/jwks' }
        : { type, name, url: 'https://idp.example/introspect', client_id_env: 'CID', client_secret_env: 'CSECRET' };

  for (const type of ['static', 'jwt', 'introspection']) {
    for (const name of ['sa', 'unknown']) {
      it(`a ${type} provider named ${name} is refused at start, naming the field`, () => {
        let err: unknown;
        try {
          testConfig({ auth: { providers: [provider(type, name)] } }, { CID: 'c', CSECRET: 's' });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems).toContainEqual(expect.stringMatching(new RegExp(`^auth\\.providers\\[0\\]\\.name: ${name} is reserved`)));
      });
    }
  }

  it('control: the same providers under another name load', () => {
    for (const type of ['static', 'jwt', 'introspection']) expect(() => testConfig({ auth: { providers: [provider(type, 'sa-idp')] } }, { CID: 'c', CSECRET: 's' })).not.toThrow();
  });
});

describe('security: an external identity never shares an id with a service account or a user', () => {
  let up: FixtureUpstream;
  let jwks: JwksServer;
  let gw: McpGateway;
  const key = makeKey('ES256', 'k1');
  const ISS = 'https://idp.example';
  let sa: { clientId: string; token: string };
  let user: { id: string; token: string };
  /** An external identity whose subject is the service account's client_id. */
  let extSa: string;
  /** An external identity whose subject is the user's id. */
  let extUser: string;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    jwks = await startJwksServer([key]);
    gw = await startMcpGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }],
      credentials: { encryption_key: randomBytes(32).toString('hex') },
      auth: { providers: [{ type: 'jwt', name: 'idp', issuer: ISS, audience: 'gw', algorithms: ['ES256'], jwks_uri: jwks.url, claims: { groups: 'groups' } }] },
    });
    const admin = await register(gw.t, 'admin@example.com');
    const account = await createServiceAccount(gw.t, admin.token, { name: 'robot', groups: ['eng'] });
    sa = { clientId: account.client_id, token: await clientCredentialsToken(gw.t, account.client_id, account.client_secret) };
    const u = await makeUser(gw.t, { groups: ['eng'] });
    user = { id: u.id, token: await makeToken(gw.t, u.id) };
    extSa = signToken(key, { iss: ISS, aud: 'gw', sub: account.client_id, groups: ['eng'] });
    extUser = signToken(key, { iss: ISS, aud: 'gw', sub: u.id, groups: ['eng'] });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await jwks?.close();
  });
  beforeEach(() => up.reset());

  const whoami = async (token: string): Promise<string> => {
    const r = await gw.t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: auth(token) });
    expect(r.statusCode, r.body).toBe(200);
    return r.json().id;
  };

  it('each principal has an id of its own kind, even with the same subject', async () => {
    const ids = { sa: await whoami(sa.token), user: await whoami(user.token), extSa: await whoami(extSa), extUser: await whoami(extUser) };
    expect(ids).toEqual({ sa: `sa:${sa.clientId}`, user: user.id, extSa: `idp:${sa.clientId}`, extUser: `idp:${user.id}` });
  });

  async function session(token: string) {
    const url = `${gw.url}/mcp/demo`;
    const sid = await rawInitialize(url, auth(token));
    return { url, sid };
  }

  for (const [owner, intruder] of [
    ['sa', 'extSa'],
    ['extSa', 'sa'],
    ['user', 'extUser'],
    ['extUser', 'user'],
  ] as const) {
    it(`an MCP session opened by ${owner} is 404 session_not_found for ${intruder}, and the upstream sees nothing`, async () => {
      const tokens = { sa: sa.token, user: user.token, extSa, extUser };
      const s = await session(tokens[owner]);
      up.reset();
      const r = await rpc(s.url, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'not yours' } } }, {
        ...auth(tokens[intruder]),
        'mcp-session-id': s.sid,
        'mcp-protocol-version': '2025-06-18',
      });
      expect(r.status).toBe(404);
      expect(r.json().error.data.code).toBe('session_not_found');
      expect(up.seen).toEqual([]);
      // the owner still reaches its session
      const ok = await rpc(s.url, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, { ...auth(tokens[owner]), 'mcp-session-id': s.sid, 'mcp-protocol-version': '2025-06-18' });
      expect(ok.status).toBe(200);
    });
  }

  it("upstream credentials stored by the external identity are not the service account's", async () => {
    const put = await gw.t.inject({ method: 'PUT', url: '/api/v1/servers/demo/credentials', headers: auth(extSa), payload: { headers: { 'x-user-token': 'ext-secret' } } });
    expect(put.statusCode, put.body).toBe(201);
    const mine = await gw.t.inject({ method: 'GET', url: '/api/v1/servers/demo/credentials', headers: auth(extSa) });
    expect(mine.json().headers).toEqual(['x-user-token']);
    const theirs = await gw.t.inject({ method: 'GET', url: '/api/v1/servers/demo/credentials', headers: auth(sa.token) });
    expect(theirs.statusCode).toBe(200);
    expect(theirs.json().headers).toEqual([]);

    await session(sa.token);
    expect(up.seen.length).toBeGreaterThan(0);
    for (const s of up.seen) expect(s.headers['x-user-token']).toBeUndefined();
    up.reset();
    await session(extSa);
    expect(up.seen.some((s) => s.headers['x-user-token'] === 'ext-secret')).toBe(true);
  });
});
