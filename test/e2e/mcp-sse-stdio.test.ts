import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startSseUpstream, STDIO_FIXTURE, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { connectClient, makeToken, makeUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const grant = (server: string) => ({ server, tools: ['echo', 'ask', 'log', 'read_*'], resources: ['public://*'], prompts: ['greet'], access_level: 'execute' });

async function waitFor(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('e2e: SDK client → gateway → legacy HTTP+SSE and stdio upstreams', () => {
  let sse: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), 'pcl-stdio-'));
  const stdinLog = join(dir, 'stdin.log');
  const pidDir = mkdtempSync(join(tmpdir(), 'pcl-pids-'));

  beforeAll(async () => {
    sse = await startSseUpstream();
    gw = await startMcpGateway(
      {
        servers: [
          { name: 'legacy', url: sse.url, transport: 'sse', headers: { 'X-Upstream-Key': 'sse-key' } },
          {
            name: 'local',
            command: process.execPath,
            args: [STDIO_FIXTURE],
            env: { FIXTURE_LOG: stdinLog, FIXTURE_PID_DIR: pidDir, FIXTURE_MARK: 'from-config' },
            max_processes: 2,
          },
        ],
        groups: [{ name: 'eng', grants: [grant('legacy'), grant('local')] }],
      },
    );
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await sse?.close();
  });

  for (const server of ['legacy', 'local']) {
    it(`${server}: initialize, filtered list, allowed call, sampling and logging reach the client, DELETE`, async () => {
      const { client, transport } = await connectClient(`${gw.url}/mcp/${server}`, token, { capabilities: { sampling: {} } });
      expect(transport.sessionId).toBeTruthy();
      const tools = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(tools).toEqual(['ask', 'echo', 'log', 'read_file']);
      expect(await client.callTool({ name: 'echo', arguments: { text: 'x' } })).toMatchObject({ content: [{ type: 'text', text: 'echo: x' }] });

      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 't', content: { type: 'text', text: 'sampled' } }));
      expect(await client.callTool({ name: 'ask', arguments: { question: 'q' } })).toMatchObject({ content: [{ type: 'text', text: 'llm said: sampled' }] });

      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
        logs.push(n.params.data);
      });
      await client.callTool({ name: 'log', arguments: { msg: `log via ${server}` } });
      await waitFor(() => logs.includes(`log via ${server}`));

      const resources = (await client.listResources()).resources.map((r) => r.uri);
      expect(resources).toEqual(['public://readme']);

      await transport.terminateSession();
      await client.close();
    });
  }

  it('legacy: the upstream got the configured headers, never the client token', () => {
    expect(sse.seen.length).toBeGreaterThan(0);
    for (const s of sse.seen) {
      expect(s.headers.authorization).toBeUndefined();
      expect(s.headers['x-upstream-key']).toBe('sse-key');
    }
    expect(JSON.stringify(sse.seen)).not.toContain(token);
  });

  it('stdio: one process per session, env from config, process ended on DELETE', async () => {
    const a = await connectClient(`${gw.url}/mcp/local`, token);
    const b = await connectClient(`${gw.url}/mcp/local`, token);
    await waitFor(() => readdirSync(pidDir).length === 2);
    const info = JSON.parse(readFileSync(join(pidDir, readdirSync(pidDir)[0]), 'utf8'));
    expect(info.env.FIXTURE_MARK).toBe('from-config');
    expect(gw.t.app.services.upstreams.status('local')).toMatchObject({ state: 'running', processes: 2 });
    await a.transport.terminateSession();
    await waitFor(() => readdirSync(pidDir).length === 1);
    await b.transport.terminateSession();
    await waitFor(() => readdirSync(pidDir).length === 0);
    // the child removes its pid file just before it exits; the gateway sees the exit a moment later
    await waitFor(() => gw.t.app.services.upstreams.status('local').processes === 0);
    expect(gw.t.app.services.upstreams.status('local')).toMatchObject({ state: 'idle', processes: 0 });
    await a.client.close();
    await b.client.close();
  });

  it('stdio: max_processes caps concurrent sessions with 503', async () => {
    const a = await connectClient(`${gw.url}/mcp/local`, token);
    const b = await connectClient(`${gw.url}/mcp/local`, token);
    const r = await fetch(`${gw.url}/mcp/local`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    expect(r.status).toBe(503);
    expect((await r.json()).error.data.code).toBe('service_unavailable');
    await a.transport.terminateSession();
    await b.transport.terminateSession();
    await a.client.close();
    await b.client.close();
    await waitFor(() => readdirSync(pidDir).length === 0);
  });

  it('stdio: a POST answered before anything else is one whole event-stream body (filtered); a batch answered in parts streams', async () => {
    const post = (body: unknown, sid?: string) =>
      fetch(`${gw.url}/mcp/local`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...(sid ? { 'mcp-session-id': sid } : {}) },
        body: JSON.stringify(body),
      });
    await waitFor(() => gw.t.app.services.upstreams.status('local').processes === 0); // max_processes: 2
    const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    expect(init.status, await init.clone().text()).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    expect(init.headers.get('content-type')).toBe('text/event-stream');
    expect(Number(init.headers.get('content-length'))).toBeGreaterThan(0); // whole: sent with its length, in one write
    const initText = await init.text();
    expect(initText).toMatch(/^event: message\ndata: [^\n]+\n\n$/); // exactly one event
    expect(JSON.parse(initText.slice('event: message\ndata: '.length))).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: {} } });
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sid)).status).toBe(202);

    const list = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, sid);
    expect(list.headers.get('content-length')).not.toBeNull();
    const listed = await list.text();
    expect(listed).toContain('"name":"echo"');
    expect(listed).not.toContain('secret_tool'); // filtered in the whole body too

    const batch = await post(
      [
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'one' } } },
        { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'two' } } },
      ],
      sid,
    );
    expect(batch.headers.get('content-type')).toBe('text/event-stream');
    expect(batch.headers.get('content-length')).toBeNull(); // streamed from its first response
    const events = (await batch.text()).split('\n\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^event: message\ndata: /, '')));
    expect(events.map((e) => e.id).sort()).toEqual([3, 4]);
    expect(JSON.stringify(events.find((e) => e.id === 3).result)).toContain('one');
    expect(JSON.stringify(events.find((e) => e.id === 4).result)).toContain('two');
    await fetch(`${gw.url}/mcp/local`, { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sid } });
    await waitFor(() => readdirSync(pidDir).length === 0);
  });

  it('stdio: the stdin log shows only what the client was allowed to send', () => {
    const lines = readFileSync(stdinLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((m) => m.method === 'initialize')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});
