/**
 * Legacy-SSE (`transport: sse`) upstream sessions are reaped when idle: a
 * session nobody uses is closed after the server's `idle_timeout` (default
 * 10 minutes), its upstream event stream with it. `idle_timeout` is refused on
 * a Streamable HTTP server, where it would do nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteServerSchema, serverSchema } from '../../src/config/schema.js';
import { startSseUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { testConfig } from '../helpers/app.js';
import { LocalBus } from '../../src/lib/bus.js';
import { SessionManager } from '../../src/proxy/sessions.js';
import { type VirtualSession } from '../../src/proxy/upstreams/virtual-session.js';

describe('legacy-SSE sessions are reaped when idle', () => {
  let sse: FixtureUpstream;
  let gw: McpGateway;
  let auth: Record<string, string>;

  beforeAll(async () => {
    sse = await startSseUpstream();
    gw = await startMcpGateway({
      servers: [
        { name: 'legacy', url: sse.url, transport: 'sse', idle_timeout: '400ms' },
        { name: 'legacy-default', url: sse.url, transport: 'sse' },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    auth = { authorization: `Bearer ${await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id)}` };
  });
  afterAll(async () => {
    await gw?.close();
    await sse?.close();
  });

  it('a session unused for idle_timeout is closed, upstream stream included; its id is dead afterwards', async () => {
    const url = `${gw.url}/mcp/legacy`;
    const before = sse.openTransports();
    const sid = await rawInitialize(url, auth);
    expect(sse.openTransports()).toBe(before + 1);
    // used: stays open
    const used = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { ...auth, 'mcp-session-id': sid });
    expect(used.status).toBe(200);
    await expect.poll(() => sse.openTransports(), { timeout: 5_000, interval: 50 }).toBe(before);
    const r = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...auth, 'mcp-session-id': sid });
    expect(r.status).toBe(404);
    expect(r.json().error.data.code).toBe('session_not_found');
    expect(await gw.t.store.mcpSessions.get(sid)).toBeUndefined();
  });

  it('without idle_timeout a legacy-SSE session is reaped after the default 10 minutes, not before', async () => {
    const def = gw.t.app.services.registry.get('legacy-default')!;
    const sessions = new SessionManager(gw.t.store, gw.t.app.services.registry, gw.t.app.services.upstreams, new LocalBus(), 'replica-test', { debug() {}, warn() {} });
    try {
      const channel = (minutesIdle: number) => {
        const c = { alive: true, busy: false, lastActivity: Date.now() - minutesIdle * 60_000, close: async () => void (c.alive = false) };
        return c as unknown as VirtualSession & { alive: boolean };
      };
      const nine = channel(9);
      const eleven = channel(11);
      const kept = await sessions.create(def, 'p-1', null, nine);
      const reaped = await sessions.create(def, 'p-1', null, eleven);
      await expect.poll(() => eleven.alive, { timeout: 5_000 }).toBe(false);
      expect(nine.alive).toBe(true);
      expect(sessions.cached(kept.id, 'p-1', 'legacy-default')).toBe(kept);
      expect(sessions.cached(reaped.id, 'p-1', 'legacy-default')).toBeUndefined();
    } finally {
      await sessions.close();
    }
  });

  it('idle_timeout is refused on a Streamable HTTP server (it would do nothing there)', () => {
    expect(remoteServerSchema.safeParse({ name: 'x', url: 'http://127.0.0.1:1/mcp', idle_timeout: '5m' }).success).toBe(false);
    expect(remoteServerSchema.safeParse({ name: 'x', url: 'http://127.0.0.1:1/mcp', transport: 'sse', idle_timeout: '5m' }).success).toBe(true);
    expect(serverSchema.safeParse({ name: 'x', url: 'http://127.0.0.1:1/mcp', idle_timeout: '5m' }).success).toBe(false);
    expect(() => testConfig({ servers: [{ name: 'x', url: 'http://127.0.0.1:1/mcp', idle_timeout: '5m' }] })).toThrow(/servers\[0\]\.idle_timeout: applies to stdio servers and remote servers with transport: sse only/);
  });
});
