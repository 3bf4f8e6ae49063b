/**
 * Per-principal caps (SPEC §15, `limits.per_principal`): one caller cannot
 * hold every session, stdio process or event stream of a shared upstream.
 * Past a cap: 429 with a JSON-RPC error naming it, and nothing reaches the
 * upstream (no session opened, no process spawned, no stream requested).
 * Real stdio servers and real streams.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, STDIO_FIXTURE, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'caps', version: '1' } } };

function openStream(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers: { accept: 'text/event-stream', ...headers } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

const bodyOf = (res: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let s = '';
    res.on('data', (c) => (s += c));
    res.on('end', () => resolve(s));
  });

describe('security: per-principal caps', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let openStreams = 0;
  const pidDir = mkdtempSync(join(tmpdir(), 'pcl-caps-'));
  const who = async () => {
    const u = await makeUser(gw.t, { groups: ['eng'] });
    return { id: u.id, auth: { authorization: `Bearer ${await makeToken(gw.t, u.id)}` } };
  };

  beforeAll(async () => {
    // Streamable HTTP upstream: sessions, and GET streams it holds open until the client leaves.
    up = await startRawUpstream((req, res, raw) => {
      if (req.method === 'GET') {
        openStreams++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': open\n\n');
        req.on('close', () => openStreams--);
        return;
      }
      if (req.method === 'DELETE') return void res.writeHead(204).end();
      const msg = JSON.parse(raw);
      if (msg.id === undefined) return void res.writeHead(202).end();
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': `up-${Math.random()}` });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'raw', version: '1' } } }));
    });
    gw = await startMcpGateway({
      limits: { per_principal: { sessions: 3, stdio_processes: 1, event_streams: 2 } },
      servers: [
        { name: 'remote', url: up.url },
        { name: 'local', command: process.execPath, args: [STDIO_FIXTURE], env: { FIXTURE_PID_DIR: pidDir } },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['*'], access_level: 'execute' }] }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('sessions: past limits.per_principal.sessions an initialize gets 429 too_many_sessions and never reaches the upstream', async () => {
    const alice = await who();
    const url = `${gw.url}/mcp/remote`;
    const sids = [await rawInitialize(url, alice.auth), await rawInitialize(url, alice.auth), await rawInitialize(url, alice.auth)];
    up.reset();
    const r = await rpc(url, INIT, alice.auth);
    expect(r.status).toBe(429);
    expect(r.json()).toMatchObject({ id: 1, error: { code: -32029, data: { code: 'too_many_sessions' } } });
    expect(r.json().error.message).toContain('limits.per_principal.sessions');
    expect(up.seen).toEqual([]);
    // a stdio session counts too, and is refused before a process starts
    const before = readdirSync(pidDir).length;
    const local = await rpc(`${gw.url}/mcp/local`, INIT, alice.auth);
    expect(local.status).toBe(429);
    expect(readdirSync(pidDir)).toHaveLength(before);
    // another principal is not affected
    const bob = await who();
    expect(await rawInitialize(url, bob.auth)).toBeTruthy();
    // ending a session frees its place
    const del = await fetch(url, { method: 'DELETE', headers: { ...alice.auth, 'mcp-session-id': sids[0] } });
    expect(del.status).toBe(204);
    expect(await rawInitialize(url, alice.auth)).toBeTruthy();
  });

  it('stdio processes: past limits.per_principal.stdio_processes a new stdio session gets 429 too_many_processes and no process is spawned', async () => {
    const carol = await who();
    const url = `${gw.url}/mcp/local`;
    const sid = await rawInitialize(url, carol.auth);
    await expect.poll(() => readdirSync(pidDir).length).toBe(1);
    const r = await rpc(url, INIT, carol.auth);
    expect(r.status).toBe(429);
    expect(r.json()).toMatchObject({ error: { code: -32029, data: { code: 'too_many_processes' } } });
    expect(r.json().error.message).toContain('limits.per_principal.stdio_processes');
    expect(readdirSync(pidDir)).toHaveLength(1);
    // another principal gets its own process
    const dave = await who();
    const daveSid = await rawInitialize(url, dave.auth);
    await expect.poll(() => readdirSync(pidDir).length).toBe(2);
    // the process ends with the session, and the place is free again
    await fetch(url, { method: 'DELETE', headers: { ...carol.auth, 'mcp-session-id': sid } });
    await expect.poll(() => gw.t.app.services.upstreams.processesOfPrincipal(carol.id), { timeout: 5_000 }).toBe(0);
    const again = await rawInitialize(url, carol.auth);
    expect(again).toBeTruthy();
    for (const [a, s] of [[carol.auth, again], [dave.auth, daveSid]] as const) await fetch(url, { method: 'DELETE', headers: { ...a, 'mcp-session-id': s } });
    await expect.poll(() => readdirSync(pidDir).length, { timeout: 5_000 }).toBe(0);
  });

  it('event streams: past limits.per_principal.event_streams a GET gets 429 too_many_streams and the upstream is not asked', async () => {
    const erin = await who();
    const url = `${gw.url}/mcp/remote`;
    const sid = await rawInitialize(url, erin.auth);
    const h = { ...erin.auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    const baseline = openStreams;
    const streams = [await openStream(url, h), await openStream(url, h)];
    for (const s of streams) expect(s.statusCode).toBe(200);
    await expect.poll(() => openStreams).toBe(baseline + 2);
    const third = await openStream(url, h);
    expect(third.statusCode).toBe(429);
    expect(JSON.parse(await bodyOf(third))).toMatchObject({ error: { code: -32029, data: { code: 'too_many_streams' } } });
    expect(openStreams).toBe(baseline + 2);
    // another principal may open its own
    const frank = await who();
    const fsid = await rawInitialize(url, frank.auth);
    const other = await openStream(url, { ...frank.auth, 'mcp-session-id': fsid });
    expect(other.statusCode).toBe(200);
    other.destroy();
    // closing a stream frees its place
    streams[0].destroy();
    await expect.poll(async () => {
      const s = await openStream(url, h);
      s.destroy();
      return s.statusCode;
    }, { timeout: 5_000 }).toBe(200);
    streams[1].destroy();
  });
});
