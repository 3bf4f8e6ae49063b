/**
 * Rate limits and metrics on the MCP endpoint, through a real listener and a
 * real SDK upstream: a spent budget answers 429 with a JSON-RPC error and
 * nothing reaches the upstream; the MCP series follow the traffic.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newApiToken } from '../../src/auth/api-token-format.js';
import { uuid } from '../../src/lib/crypto.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { refusingPort } from '../helpers/raw-http.js';

const grant = { server: 'demo', tools: ['echo'], access_level: 'execute' };

describe('rate limits and metrics on /mcp', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let limitedToken: string;
  let otherToken: string;
  let url: string;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({
      servers: [
        { name: 'demo', url: up.url },
        { name: 'down', url: `http://127.0.0.1:${await refusingPort()}/mcp` },
      ],
      groups: [{ name: 'eng', grants: [grant, { server: 'down', tools: ['echo'], access_level: 'execute' }] }],
      rate_limits: { per_group: { eng: { requests: 1000, per: '1h' } } },
    });
    url = `${gw.url}/mcp/demo`;
    const alice = await makeUser(gw.t, { groups: ['eng'] });
    const t = newApiToken();
    await gw.t.store.apiTokens.insert({
      id: uuid(), ownerId: alice.id, ownerType: 'user', name: 'limited', prefix: t.prefix, tokenHash: t.hash,
      scopes: null, servers: null, expiresAt: null, rateLimitPerHour: 5,
    });
    limitedToken = t.token;
    const bob = await makeUser(gw.t, { groups: ['eng'] });
    otherToken = await makeToken(gw.t, bob.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  const call = (headers: Record<string, string>, id: number, name: string) =>
    rpc(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { text: 'hi' } } }, headers);

  it('a spent token budget gets HTTP 429 with a JSON-RPC -32029 body, and the message never reaches the upstream', async () => {
    const auth = { authorization: `Bearer ${limitedToken}` };
    const sid = await rawInitialize(url, auth); // requests 1 and 2
    const h = { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    const list = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, h); // 3
    expect(list.status).toBe(200);
    expect(list.headers.get('ratelimit-limit')).toBe('5');
    expect(list.headers.get('ratelimit-remaining')).toBe('2');
    expect((await call(h, 2, 'echo')).status).toBe(200); // 4
    const denied = await call(h, 3, 'secret_tool'); // 5: denied by policy, still counted
    expect(denied.status).toBe(200);
    expect(denied.json().error.code).toBe(-32003);
    up.reset();

    const refused = await call(h, 4, 'echo'); // 6
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-limit')).toBe('5');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32029, data: { code: 'rate_limited' } } });
    expect(up.seen).toHaveLength(0);

    // Another principal's token is unaffected; its responses carry the tightest budget (the group's).
    const other = await rpc(url, { jsonrpc: '2.0', id: 9, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, { authorization: `Bearer ${otherToken}` });
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-limit')).toBe('1000');

    await gw.t.app.services.audit.flush();
    const hits = await gw.t.store.audit.query({ actions: ['rate_limit.hit'], limit: 10 });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ server: 'demo', status: 429, detail: { dimension: 'token', limit: 5 } });
  });

  it('portcullis_mcp_requests_total and portcullis_upstream_duration_seconds follow the traffic', async () => {
    const noAuth = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(noAuth.status).toBe(401);
    const body = (await gw.t.inject({ method: 'GET', url: '/metrics' })).body;
    const value = (series: string) => {
      const line = body.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    expect(value('portcullis_mcp_requests_total{server="demo",method="initialize",outcome="ok"}')).toBeGreaterThanOrEqual(2);
    expect(value('portcullis_mcp_requests_total{server="demo",method="tools/list",outcome="ok"}')).toBe(1);
    expect(value('portcullis_mcp_requests_total{server="demo",method="tools/call",outcome="ok"}')).toBe(1);
    expect(value('portcullis_mcp_requests_total{server="demo",method="tools/call",outcome="denied"}')).toBe(1);
    expect(value('portcullis_mcp_requests_total{server="demo",method="other",outcome="rate_limited"}')).toBe(1);
    expect(value('portcullis_mcp_requests_total{server="demo",method="other",outcome="unauthenticated"}')).toBe(1);
    expect(value('portcullis_upstream_duration_seconds_count{server="demo"}')).toBeGreaterThanOrEqual(4);
    expect(value('portcullis_rate_limited_total{dimension="token"}')).toBe(1);
    expect(value('portcullis_auth_success_total{method="api_token"}')).toBeGreaterThanOrEqual(6);
    expect(value('portcullis_auth_failure_total{method="none",reason="unauthenticated"}')).toBe(1);
  });

  it('an upstream exchange that fails is still timed: 502, and one more portcullis_upstream_duration_seconds observation', async () => {
    const count = async () => {
      const body = (await gw.t.inject({ method: 'GET', url: '/metrics' })).body;
      const line = body.split('\n').find((l) => l.startsWith('portcullis_upstream_duration_seconds_count{server="down"} '));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const before = await count();
    const r = await rpc(`${gw.url}/mcp/down`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } }, { authorization: `Bearer ${otherToken}` });
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ jsonrpc: '2.0', id: 1, error: { data: { code: 'upstream_unavailable' } } });
    expect(await count()).toBe(before + 1);
  });
});
