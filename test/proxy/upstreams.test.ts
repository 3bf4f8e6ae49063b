import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { validateRuntimeServer } from '../../src/proxy/index.js';
import { startHttpUpstream, startRawUpstream, startSseUpstream, STDIO_FIXTURE, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

async function waitFor(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('upstream manager, registry and sessions', () => {
  let http: FixtureUpstream;
  let sse: FixtureUpstream;
  let streamUp: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  const pidDir = mkdtempSync(join(tmpdir(), 'pcl-pids-'));

  beforeAll(async () => {
    http = await startHttpUpstream();
    sse = await startSseUpstream();
    // a Streamable HTTP upstream whose GET stream echoes the Last-Event-ID it got and replays the answer to the last request it saw
    let lastRequestId: unknown = null;
    streamUp = await startRawUpstream((req, res, raw) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const list = { jsonrpc: '2.0', id: lastRequestId, result: { tools: [{ name: 'echo' }, { name: 'secret_tool' }] } };
        res.write(`id: 43\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `resumed after ${req.headers['last-event-id']}` } })}\n\n`);
        res.end(`id: 44\nevent: message\ndata: ${JSON.stringify(list)}\n\n`);
        return;
      }
      const msg = raw ? JSON.parse(raw) : {};
      if (msg.id === undefined) return void res.writeHead(204).end(); // notifications: 204 (some servers do)
      lastRequestId = msg.id;
      if (msg.method === 'tools/call') {
        // a reply above the gateway's 1 MiB gather cap: streamed through, whole
        res.writeHead(200, { 'content-type': 'application/json' });
        const text = 'z'.repeat(1536 * 1024);
        res.write(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":{"content":[{"type":"text","text":"`);
        for (let i = 0; i < text.length; i += 256 * 1024) res.write(text.slice(i, i + 256 * 1024));
        return void res.end('"}]}}');
      }
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'upstream-sid-1' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'raw', version: '1' } } }));
    });
    gw = await startMcpGateway({
      servers: [
        { name: 'demo', url: http.url, headers: { 'X-Upstream-Key': 'discovery-key' } },
        { name: 'legacy', url: sse.url, transport: 'sse' },
        { name: 'stream', url: streamUp.url },
        { name: 'local', command: process.execPath, args: [STDIO_FIXTURE], env: { FIXTURE_PID_DIR: pidDir }, idle_timeout: '300ms' },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await http?.close();
    await sse?.close();
    await streamUp?.close();
  });

  it('discover lists what each kind of upstream offers, with the configured credentials', async () => {
    const ups = gw.t.app.services.upstreams;
    for (const name of ['demo', 'legacy', 'local']) {
      const cat = await ups.discover(name);
      expect(cat.tools.map((t) => t.name)).toContain('secret_tool');
      expect(cat.resources.map((r) => r.uri)).toEqual(['public://readme', 'secret://keys']);
      expect(cat.prompts.map((p) => p.name).sort()).toEqual(['greet', 'hidden_prompt']);
      expect(cat.serverInfo?.name).toBe('fixture');
    }
    expect(http.seen.every((s) => s.headers['x-upstream-key'] === 'discovery-key')).toBe(true);
    // the discovery session was ended upstream, and its stdio process is gone
    expect(http.seen.some((s) => s.method === 'DELETE')).toBe(true);
    await waitFor(() => readdirSync(pidDir).length === 0);
    expect(ups.status('demo').state).toBe('up');
  });

  it('stop ends stdio processes and refuses new sessions with 503 until start', async () => {
    const ups = gw.t.app.services.upstreams;
    const url = `${gw.url}/mcp/local`;
    await rawInitialize(url, { authorization: `Bearer ${token}` });
    await waitFor(() => readdirSync(pidDir).length === 1);
    expect(await ups.stop('local')).toMatchObject({ state: 'stopped', processes: 0 });
    expect(readdirSync(pidDir)).toHaveLength(0);
    const r = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(503);
    expect((await ups.start('local')).state).toBe('idle');
    await expect(ups.stop('demo')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('an idle stdio session is ended after idle_timeout and its process stopped', async () => {
    const url = `${gw.url}/mcp/local`;
    const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
    await waitFor(() => readdirSync(pidDir).length === 1);
    await waitFor(() => readdirSync(pidDir).length === 0, 4_000);
    const r = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { authorization: `Bearer ${token}`, 'mcp-session-id': sid });
    expect(r.status).toBe(404);
  });

  it('GET passes Last-Event-ID through and filters list results on the stream', async () => {
    const url = `${gw.url}/mcp/stream`;
    const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
    const r = await fetch(url, { headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sid, accept: 'text/event-stream', 'last-event-id': '42' } });
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).toContain('resumed after 42');
    expect(text).toContain('id: 44');
    expect(text).toContain('"echo"');
    expect(text).not.toContain('secret_tool');
    const get = streamUp.seen.find((s) => s.method === 'GET')!;
    expect(get.headers['last-event-id']).toBe('42');
    expect(get.headers['mcp-session-id']).toBe('upstream-sid-1');
    expect(get.headers.authorization).toBeUndefined();
  });

  it('an upstream 204 reaches the client as 204 without a body or Content-Length', async () => {
    const url = `${gw.url}/mcp/stream`;
    const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
    const r = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sid, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } }),
    });
    expect(r.status).toBe(204);
    expect(r.headers.get('content-length')).toBeNull();
    expect(await r.text()).toBe('');
  });

  it('a JSON reply above the 1 MiB gather cap streams through whole', async () => {
    const url = `${gw.url}/mcp/stream`;
    const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
    const r = await rpc(url, { jsonrpc: '2.0', id: 'big', method: 'tools/call', params: { name: 'echo', arguments: {} } }, { authorization: `Bearer ${token}`, 'mcp-session-id': sid });
    expect(r.status).toBe(200);
    expect(r.json().result.content[0].text).toBe('z'.repeat(1536 * 1024));
  });

  it('a Streamable HTTP session opened on one replica is usable on another, by its owner only', async () => {
    const url = `${gw.url}/mcp/demo`;
    const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
    const row = await gw.t.store.mcpSessions.get(sid);
    expect(row).toMatchObject({ server: 'demo', upstreamSessionId: expect.any(String) });
    // a second replica on the same store
    const other = await buildApp({ config: gw.t.config, store: gw.t.store, logger: gw.t.app.services.logger });
    try {
      const base = await other.http.listen({ host: '127.0.0.1', port: 0 });
      const ok = await rpc(`${base}/mcp/demo`, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'r2' } } }, {
        authorization: `Bearer ${token}`,
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-06-18',
      });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('echo: r2');
      const stranger = await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id);
      const no = await rpc(`${base}/mcp/demo`, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, { authorization: `Bearer ${stranger}`, 'mcp-session-id': sid });
      expect(no.status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('runtime servers come from the store, reload on the servers event, and may not be stdio', async () => {
    const reg = gw.t.app.services.registry;
    expect(validateRuntimeServer({ name: 'x', command: 'sh' })).toMatchObject({ ok: false });
    expect(validateRuntimeServer({ name: 'x', url: 'ftp://nope' })).toMatchObject({ ok: false });
    expect(validateRuntimeServer({ name: 'added', url: http.url })).toMatchObject({ ok: true });
    await gw.t.store.servers.create('added', { url: http.url });
    await gw.t.store.servers.create('evil', { command: 'sh', args: ['-c', 'id'] });
    gw.t.app.services.bus.publish({ kind: 'servers' });
    await reg.ready();
    expect(reg.get('added')).toMatchObject({ url: http.url });
    expect(reg.source('added')).toBe('api');
    expect(reg.source('demo')).toBe('config');
    expect(reg.get('evil')).toBeUndefined();
    const sid = await rawInitialize(`${gw.url}/mcp/added`, { authorization: `Bearer ${token}` });
    expect(sid).toBeTruthy();
    await gw.t.store.servers.delete('added');
    gw.t.app.services.bus.publish({ kind: 'servers' });
    await reg.ready();
    const gone = await rpc(`${gw.url}/mcp/added`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${token}` });
    expect(gone.status).toBe(404);
  });
});
