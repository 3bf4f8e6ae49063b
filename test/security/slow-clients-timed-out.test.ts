/**
 * Slow clients cannot hold connections (SPEC §15, `server.timeouts`): a head
 * trickled in (slowloris) is closed after `headers`, a body that never
 * completes after `request`, an idle keep-alive connection after
 * `keep_alive` — while an event stream the gateway is sending may last
 * longer than `request`. Small timeouts keep the test short; each case
 * asserts the status, the code and that the upstream saw nothing.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { closedWithin, rawRoundTrip } from '../helpers/raw-http.js';

const HEADERS_MS = 400;
const REQUEST_MS = 1_000;
const KEEP_ALIVE_MS = 400;

/** Everything the server sends on `socket` until it closes, and when it closed. */
function readUntilClosed(socket: Socket): Promise<{ text: string; at: number }> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve({ text, at: Date.now() })));
}

const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });

describe('security: slow clients are timed out (server.timeouts)', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let port: number;
  let token: string;

  beforeAll(async () => {
    up = await startHttpUpstream();
    gw = await startMcpGateway({
      server: { timeouts: { headers: `${HEADERS_MS}ms`, request: `${REQUEST_MS}ms`, keep_alive: `${KEEP_ALIVE_MS}ms` } },
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }],
    });
    port = Number(new URL(gw.url).port);
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('a head trickled in (slowloris) gets 408 request_timeout and is closed after the headers timeout', async () => {
    const socket = await open(port);
    const closed = readUntilClosed(socket);
    const t0 = Date.now();
    socket.write(`POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n`);
    const drip = setInterval(() => socket.writable && socket.write('X-Slow: a\r\n'), 100);
    const { text, at } = await closed;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).code).toBe('request_timeout');
    expect(at - t0).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(at - t0).toBeLessThan(HEADERS_MS + 3_000);
    expect(up.seen).toEqual([]);
  });

  it('an authenticated body that never completes gets 408 request_timeout and is closed after the request timeout', async () => {
    const socket = await open(port);
    const closed = readUntilClosed(socket);
    const t0 = Date.now();
    socket.write(`POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`);
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    const { text, at } = await closed;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).code).toBe('request_timeout');
    expect(at - t0).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(at - t0).toBeLessThan(REQUEST_MS + 3_000);
    expect(up.seen).toEqual([]);
  });

  it('an unauthenticated body that never completes is answered 401 at once and closed after the request timeout', async () => {
    const socket = await open(port);
    const closed = readUntilClosed(socket);
    const t0 = Date.now();
    socket.write(`POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    const { text, at } = await closed;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text).toContain('"code":"unauthenticated"');
    expect(text).not.toContain('408');
    expect(at - t0).toBeLessThan(REQUEST_MS + 3_000);
    expect(up.seen).toEqual([]);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const r = await rawRoundTrip(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(r.status).toBe(200);
    // node:http waits one second beyond the advertised timeout, so a client never reuses a connection it is closing.
    const waited = await closedWithin(r.socket, KEEP_ALIVE_MS + 6_000);
    expect(waited).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 50);
    expect(waited).toBeLessThan(KEEP_ALIVE_MS + 4_000);
  });

  it('an event stream outlives the request timeout; its end by the client is not logged as a warning', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const sid = await rawInitialize(`${gw.url}/mcp/demo`, auth);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${gw.url}/mcp/demo`, { method: 'GET', headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } }, resolve)
        .on('error', reject)
        .end();
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    let ended = false;
    res.on('end', () => (ended = true));
    res.on('close', () => (ended = true));
    res.resume();
    await new Promise((r) => setTimeout(r, REQUEST_MS * 2));
    expect(ended).toBe(false);
    expect(res.socket?.destroyed).toBe(false);
    const logged = gw.t.logs.length;
    res.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const lines = gw.t.logs.slice(logged).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('a client that aborts its request mid-body is logged at debug level, not as a warning', async () => {
    const logged = gw.t.logs.length;
    const socket = await open(port);
    socket.write(`POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const lines = gw.t.logs.slice(logged).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(lines.some((l) => l.level === 20 && l.msg === 'MCP client went away')).toBe(true);
    expect(up.seen).toEqual([]);
  });
});
