/**
 * The authorization server on two real gateway processes sharing one
 * PostgreSQL database and one Redis (SPEC §10): a token issued by replica A
 * works on B, and every way of ending it — refresh-token reuse, /oauth/revoke,
 * ending an authorization, deleting the client — is refused on the other
 * replica within 1 s of the revoking request being answered, without B
 * reading the store per request.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { createPgDatabase, REDIS_URL, type TestDb } from '../helpers/db.js';
import { api, startGatewayProcess, waitFor, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { rpc } from '../helpers/mcp.js';
import { connect, CookieJar, discover, freePort, registerClient, signIn, tokenForm } from '../helpers/oauth.js';

const PROPAGATION_MS = 1_000;
const PASSWORD = 'correct horse battery';
const REDIRECT = 'http://127.0.0.1:7005/cb';
const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

describe('authorization server on two replicas (PostgreSQL + Redis)', () => {
  let db: TestDb;
  let cfg: ReturnType<typeof writeConfig>;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let up: FixtureUpstream;
  let admin: string;
  let clientId: string;
  const jar = new CookieJar();

  beforeAll(async () => {
    db = await createPgDatabase();
    up = await startHttpUpstream();
    const portA = await freePort();
    // The public URL is replica A's own: tokens, resources and redirects name it; B shares the issuer.
    cfg = writeConfig({
      server: { host: '127.0.0.1', port: 0, public_url: `http://127.0.0.1:${portA}`, shutdown_timeout: '5s' },
      storage: { url: db.url, pool_size: 4 },
      redis: { url: REDIS_URL, key_prefix: `pcl-oauth-${randomBytes(6).toString('hex')}:` },
      logging: { level: 'info' },
      servers: [{ name: 'remote', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'remote', tools: ['*'], access_level: 'execute' }] }],
    });
    a = await startGatewayProcess(cfg.file, { env: { PORTCULLIS_PORT: String(portA) } });
    b = await startGatewayProcess(cfg.file);
    admin = (await api(a.url, 'POST', '/api/v1/auth/register', { body: { email: 'admin@example.com', password: PASSWORD } })).body.token;
    expect((await api(a.url, 'POST', '/api/v1/users', { token: admin, body: { email: 'ann@example.com', password: PASSWORD, groups: ['eng'] } })).status).toBe(201);
    clientId = (await registerClient(await discover(a.url), { client_name: 'Replicated', redirect_uris: [REDIRECT] })).client_id;
    expect((await signIn(a.url, jar, 'ann@example.com', PASSWORD)).status).toBe(303);
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
    cfg?.cleanup();
    await up?.close();
    expect(codes).toEqual([0, 0]);
  });

  /** A fresh authorization through replica A; returns its tokens, already accepted (and cached) by B. */
  async function authorized(client = clientId) {
    const { tokens } = await connect(a.url, { jar, clientId: client, redirectUri: REDIRECT, resource: `${a.url}/mcp/remote` });
    const onB = await rpc(`${b.url}/mcp/remote`, init, { authorization: `Bearer ${tokens.access_token}` });
    expect(onB.status).toBe(200);
    return tokens;
  }
  const refusedOnB = async (token: string) => (await rpc(`${b.url}/mcp/remote`, init, { authorization: `Bearer ${token}` })).status === 401;

  it('a refresh token reused on A ends the family on B within 1 s', async () => {
    const tokens = await authorized();
    const rotated = await tokenForm(a.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: clientId });
    expect(rotated.status).toBe(200);
    expect((await rpc(`${b.url}/mcp/remote`, init, { authorization: `Bearer ${rotated.body.access_token}` })).status).toBe(200);
    expect((await tokenForm(a.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: clientId })).body.error).toBe('invalid_grant');
    const t0 = Date.now();
    await waitFor(() => refusedOnB(rotated.body.access_token), PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
  });

  it('/oauth/revoke on B ends the access tokens on A within 1 s', async () => {
    const tokens = await authorized();
    expect((await rpc(`${a.url}/mcp/remote`, init, { authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
    const r = await fetch(`${b.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens.refresh_token!, client_id: clientId }) });
    expect(r.status).toBe(200);
    const t0 = Date.now();
    await waitFor(async () => (await rpc(`${a.url}/mcp/remote`, init, { authorization: `Bearer ${tokens.access_token}` })).status === 401, PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
  });

  it('ending an authorization on A is refused on B within 1 s', async () => {
    const tokens = await authorized();
    const ann = (await api(a.url, 'POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: PASSWORD } })).body.token;
    const list = (await api(a.url, 'GET', '/api/v1/auth/authorizations', { token: ann })).body.authorizations;
    const grant = list.find((g: { client_id: string }) => g.client_id === clientId);
    expect((await api(a.url, 'DELETE', `/api/v1/auth/authorizations/${grant.id}`, { token: ann })).status).toBe(204);
    const t0 = Date.now();
    await waitFor(() => refusedOnB(tokens.access_token), PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
  });

  it('deleting the client on A ends its tokens on B within 1 s', async () => {
    const doomed = (await registerClient(await discover(a.url), { client_name: 'Doomed', redirect_uris: [REDIRECT] })).client_id;
    const tokens = await authorized(doomed);
    expect((await api(a.url, 'DELETE', `/api/v1/oauth/clients/${doomed}`, { token: admin })).status).toBe(204);
    const t0 = Date.now();
    await waitFor(() => refusedOnB(tokens.access_token), PROPAGATION_MS);
    expect(Date.now() - t0).toBeLessThan(PROPAGATION_MS);
  });
});
