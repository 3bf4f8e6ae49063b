/**
 * The MCP endpoint while PostgreSQL is unreachable: a caller whose token is
 * not cached gets 503 service_unavailable (a JSON-RPC error, Retry-After) and
 * nothing reaches the upstream; a caller already authenticated keeps working
 * from the caches; the gateway keeps running and serves everyone once the
 * database is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { pgOutage } from '../helpers/db.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const CALL = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });

describe('security: MCP requests during a database outage', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let url: string;
  let restore: (() => Promise<void>) | undefined;
  let warm: string;
  let cold: string;
  let sid: string;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway(
      {
        servers: [{ name: 'demo', url: up.url }],
        groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
      },
      { backend: 'postgres' },
    );
    url = `${gw.url}/mcp/demo`;
    const u = await makeUser(gw.t, { groups: ['eng'] });
    warm = await makeToken(gw.t, u.id);
    cold = await makeToken(gw.t, u.id);
    sid = await rawInitialize(url, { authorization: `Bearer ${warm}` });
    expect((await rpc(url, CALL(1), { authorization: `Bearer ${warm}`, 'mcp-session-id': sid })).status).toBe(200);
    restore = await pgOutage(new URL(gw.t.db.url).pathname.slice(1));
    up.reset();
  });
  afterAll(async () => {
    await restore?.().catch(() => {});
    await gw?.close();
    await up?.close();
  });

  it('an uncached token: 503 service_unavailable with Retry-After; nothing forwarded', async () => {
    const r = await rpc(url, CALL(2), { authorization: `Bearer ${cold}`, 'mcp-session-id': sid });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32603, data: { code: 'service_unavailable' } } });
    expect(r.text).not.toMatch(/accepting|terminat|database|postgres|pcl_t_/i);
    expect(up.seen).toEqual([]);
  });

  it('a caller already authenticated keeps working from the caches', async () => {
    const r = await rpc(url, CALL(3), { authorization: `Bearer ${warm}`, 'mcp-session-id': sid });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ id: 3, result: { content: [{ type: 'text', text: 'echo: hi' }] } });
    expect(up.toolCalls()).toEqual(['echo']);
  });

  it('once the database is back, the uncached token is served', async () => {
    await restore!();
    up.reset();
    const r = await rpc(url, CALL(4), { authorization: `Bearer ${cold}`, 'mcp-session-id': sid });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ id: 4, result: { content: [{ type: 'text', text: 'echo: hi' }] } });
    expect(up.toolCalls()).toEqual(['echo']);
  });
});
