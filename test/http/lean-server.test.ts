/**
 * The lean HTTP/1.1 layer (src/http/lean/server.ts) in the running gateway,
 * over raw sockets: what it serves, how it frames responses, pipelining,
 * hand-off to node:http at the first request and in mid-connection, the
 * requests node:http must refuse (nothing reaches the upstream), timeouts,
 * Connection: close, a client gone mid-request, and the drain.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpUpstream, startRawUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { connectClient, makeToken, makeUser, rawInitialize, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { leanLayerOf, type LeanStats } from '../../src/http/lean/server.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body was sent with chunked framing. */
  chunked: boolean;
}

/** One client connection that reads HTTP/1.1 responses off the socket in order (Content-Length or chunked framing). */
class RawConn {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  readonly closedP: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.closedP = new Promise((r) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        r();
      }),
    );
    socket.on('error', () => {});
  }

  static open(url: string): Promise<RawConn> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), hostname);
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private more(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`connection closed; unread: ${JSON.stringify(this.buf.toString('latin1'))}`));
    return new Promise((r) => this.waiters.push(r));
  }

  send(s: string | Buffer): void {
    this.socket.write(s);
  }

  /** The next whole response. */
  async next(): Promise<RawResponse> {
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) === -1) await this.more();
    const head = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(head[0].slice(9, 12));
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const c = line.indexOf(':');
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
    }
    let pos = end + 4;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        let eol: number;
        while ((eol = this.buf.indexOf('\r\n', pos)) === -1) await this.more();
        const size = parseInt(this.buf.subarray(pos, eol).toString('latin1'), 16);
        while (this.buf.length < eol + 2 + size + 2) await this.more();
        if (size === 0) {
          pos = eol + 4;
          break;
        }
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        pos = eol + 2 + size + 2;
      }
      const body = Buffer.concat(parts).toString('utf8');
      this.buf = this.buf.subarray(pos);
      return { status, headers, body, chunked: true };
    }
    const length = Number(headers['content-length'] ?? 0);
    while (this.buf.length < pos + length) await this.more();
    const body = this.buf.subarray(pos, pos + length).toString('utf8');
    this.buf = this.buf.subarray(pos + length);
    return { status, headers, body, chunked: false };
  }

  close(): void {
    this.socket.destroy();
  }
}

const INIT = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

function post(path: string, body: string, headers: Record<string, string> = {}): string {
  const h = { Host: 'gw.test', 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Content-Length': String(Buffer.byteLength(body)), ...headers };
  return `POST ${path} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${body}`;
}

/** An upstream that answers each request only when the test calls the function it pushes onto `holds`. */
function startHeldUpstream(holds: (() => void)[]): Promise<FixtureUpstream> {
  return startRawUpstream((_req, res, raw) => {
    const msg = JSON.parse(raw);
    holds.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} })));
  });
}

const nextTurn = () => new Promise((r) => setTimeout(r, 20));

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await nextTurn();
  }
}

describe('lean HTTP/1.1 layer in the gateway', () => {
  let up: FixtureUpstream;
  let sse: FixtureUpstream;
  let held: FixtureUpstream;
  const holds: (() => void)[] = [];
  let gw: McpGateway;
  let token: string;
  let stats: LeanStats;
  const auth = () => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    sse = await startHttpUpstream();
    held = await startHeldUpstream(holds);
    gw = await startMcpGateway({
      server: { body_limit: '8KiB' },
      servers: [
        { name: 'demo', url: up.url },
        { name: 'sse', url: sse.url },
        { name: 'held', url: held.url },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
    stats = leanLayerOf(gw.t.app.http.server)!.stats;
  });
  afterAll(async () => {
    for (const f of holds) f();
    await gw?.close();
    await up?.close();
    await sse?.close();
    await held?.close();
  });

  it("serves an SDK client's POSTs itself and hands its GET event stream to node:http", async () => {
    const served = stats.served;
    const handedOff = stats.handedOff;
    const { client } = await connectClient(`${gw.url}/mcp/demo`, token);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'lean' } });
    expect(r.content).toEqual([{ type: 'text', text: 'echo: lean' }]);
    await client.close();
    // initialize, notifications/initialized, tools/call
    expect(stats.served - served).toBeGreaterThanOrEqual(3);
    expect(stats.handedOff - handedOff).toBeGreaterThanOrEqual(1);
  });

  it('frames a JSON reply with Content-Length, Date and keep-alive, and serves the next request on the same connection', async () => {
    const c = await RawConn.open(gw.url);
    const served = stats.served;
    c.send(post('/mcp/demo', INIT(1), auth()));
    const a = await c.next();
    expect(a.status).toBe(200);
    expect(a.chunked).toBe(false);
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.body));
    expect(JSON.parse(a.body)).toMatchObject({ id: 1, result: { serverInfo: expect.any(Object) } });
    expect(a.headers['mcp-session-id']).toMatch(/.+/);
    expect(a.headers.connection).toBe('keep-alive');
    expect(a.headers['keep-alive']).toBe('timeout=72');
    expect(Number.isNaN(Date.parse(a.headers.date))).toBe(false);
    c.send(post('/mcp/demo', INIT(2), auth()));
    const b = await c.next();
    expect(JSON.parse(b.body)).toMatchObject({ id: 2 });
    expect(stats.served - served).toBe(2);
    expect(c.closed).toBe(false);
    c.close();
  });

  it("streams an upstream's event-stream reply with chunked framing", async () => {
    const c = await RawConn.open(gw.url);
    c.send(post('/mcp/sse', INIT(7), auth()));
    const r = await c.next();
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.chunked).toBe(true);
    expect(r.body).toContain('"id":7');
    // The connection stays usable after the terminating chunk.
    c.send(post('/mcp/demo', INIT(8), auth()));
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 8 });
    c.close();
  });

  it('answers pipelined requests in order, one at a time', async () => {
    const c = await RawConn.open(gw.url);
    const served = stats.served;
    c.send(post('/mcp/demo', INIT(11), auth()) + post('/mcp/demo', INIT(12), auth()) + post('/mcp/demo', INIT(13), auth()));
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(JSON.parse((await c.next()).body).id);
    expect(ids).toEqual([11, 12, 13]);
    expect(stats.served - served).toBe(3);
    c.close();
  });

  it('a client that half-closes (FIN) mid-request: the request is aborted and the connection ended, as node:http does', async () => {
    const lifecycle = gw.t.app.services.lifecycle;
    const c = await RawConn.open(gw.url);
    c.send(post('/mcp/held', INIT(85), auth()));
    await until(() => holds.length === 1);
    expect(lifecycle.inFlight).toBe(1);
    c.socket.end();
    await c.closedP;
    await until(() => lifecycle.inFlight === 0);
    holds.shift()!();
  });

  it('stops reading a connection whose pipelined bytes arrive while a request is in flight (memory stays bounded)', async () => {
    const c = await RawConn.open(gw.url);
    c.send(post('/mcp/held', INIT(91), auth()));
    await until(() => holds.length === 1);
    // 32 MiB behind the held request: more than the kernel's socket buffers hold, so most must stay with the client.
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 512; i++) c.send(chunk);
    await new Promise((r) => setTimeout(r, 500));
    expect(c.socket.writableLength).toBeGreaterThan(16 * 1024 * 1024);
    holds.shift()!();
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 91 });
    c.close();
  });

  it('a head and body trickled in a few bytes at a time are still served here', async () => {
    const c = await RawConn.open(gw.url);
    const served = stats.served;
    const whole = post('/mcp/demo', INIT(95), auth());
    for (let i = 0; i < whole.length; i += 3) {
      c.send(whole.slice(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 95 });
    expect(stats.served - served).toBe(1);
    c.close();
  });

  it('a pipelined request split around the end of the one before is served in order', async () => {
    const c = await RawConn.open(gw.url);
    const second = post('/mcp/demo', INIT(97), auth());
    c.send(post('/mcp/demo', INIT(96), auth()) + second.slice(0, 30));
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 96 });
    c.send(second.slice(30));
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 97 });
    c.close();
  });

  it('hands the connection to node:http in mid-connection, bytes and all, and node:http keeps it', async () => {
    const c = await RawConn.open(gw.url);
    const served = stats.served;
    const handedOff = stats.handedOff;
    c.send(post('/mcp/demo', INIT(21), auth()));
    expect((await c.next()).status).toBe(200);
    // A GET pipelined behind a POST: the POST is served here, then the GET's bytes go to node:http.
    c.send(post('/mcp/demo', INIT(22), auth()) + 'GET /healthz HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 22 });
    const health = await c.next();
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    c.send(post('/mcp/demo', INIT(23), auth()));
    expect(JSON.parse((await c.next()).body)).toMatchObject({ id: 23 });
    expect(stats.served - served).toBe(2);
    expect(stats.handedOff - handedOff).toBe(1);
    c.close();
  });

  it("a GET's first bytes go to node:http at once, before its line end", async () => {
    const c = await RawConn.open(gw.url);
    const handedOff = stats.handedOff;
    c.send('GET /healthz');
    await until(() => stats.handedOff === handedOff + 1);
    c.send(' HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    expect((await c.next()).status).toBe(200);
    c.close();
  });

  it('a chunked POST goes to node:http and is served there', async () => {
    const c = await RawConn.open(gw.url);
    const handedOff = stats.handedOff;
    const body = INIT(31);
    c.send(`POST /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    const r = await c.next();
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ id: 31 });
    expect(stats.handedOff - handedOff).toBe(1);
    c.close();
  });

  it('Content-Length with Transfer-Encoding (request smuggling): 400 from node:http, the connection closed, nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const smuggled = post('/mcp/demo', INIT(41), auth());
    c.send(`POST /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${smuggled.length + 5}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`);
    const r = await c.next();
    expect(r.status).toBe(400);
    await c.closedP;
    expect(up.seen.length).toBe(seen);
  });

  it('a duplicated Content-Length: 400 from node:http, nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const body = INIT(42);
    c.send(`POST /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\nContent-Length: ${body.length - 1}\r\n\r\n${body}`);
    expect((await c.next()).status).toBe(400);
    await c.closedP;
    expect(up.seen.length).toBe(seen);
  });

  it('a body above server.body_limit goes to node:http: 413 payload_too_large after authentication, nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const handedOff = stats.handedOff;
    const big = JSON.stringify({ jsonrpc: '2.0', id: 51, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(9 * 1024) } } });
    c.send(post('/mcp/demo', big, auth()));
    const r = await c.next();
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error.data.code).toBe('payload_too_large');
    expect(stats.handedOff - handedOff).toBe(1);
    expect(up.seen.length).toBe(seen);
    c.close();
  });

  it('without a credential: 401 with the resource challenge from the lean path, nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const served = stats.served;
    c.send(post('/mcp/demo', INIT(61)));
    const r = await c.next();
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error.data.code).toBe('unauthenticated');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer resource_metadata="[^"]+\/mcp\/demo"$/);
    expect(stats.served - served).toBe(1);
    expect(up.seen.length).toBe(seen);
    c.close();
  });

  it('Connection: close is honoured: the response says so and the connection ends', async () => {
    const c = await RawConn.open(gw.url);
    c.send(post('/mcp/demo', INIT(71), { ...auth(), Connection: 'close' }));
    const r = await c.next();
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    await c.closedP;
  });

  it('a client gone mid-request: the request leaves the in-flight count and its connection is forgotten', async () => {
    const lifecycle = gw.t.app.services.lifecycle;
    const layer = leanLayerOf(gw.t.app.http.server)!;
    const before = layer.connections;
    const c = await RawConn.open(gw.url);
    c.send(post('/mcp/held', INIT(81), auth()));
    await until(() => holds.length === 1);
    expect(lifecycle.inFlight).toBe(1);
    expect(layer.connections).toBe(before + 1);
    c.close();
    await until(() => lifecycle.inFlight === 0 && layer.connections === before);
    holds.shift()!();
  });
});

describe('lean HTTP/1.1 layer: timeouts and the drain', () => {
  let up: FixtureUpstream;
  let held: FixtureUpstream;
  const holds: (() => void)[] = [];
  let gw: McpGateway;
  let token: string;
  const auth = () => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    held = await startHeldUpstream(holds);
    gw = await startMcpGateway({
      servers: [
        { name: 'demo', url: up.url },
        { name: 'held', url: held.url },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    const server = gw.t.app.http.server;
    server.headersTimeout = 300;
    server.keepAliveTimeout = 400;
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    for (const f of holds) f();
    await gw?.close();
    await up?.close();
    await held?.close();
  });

  it('a head not complete within headersTimeout: 408 and the connection closed; nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const whole = post('/mcp/demo', INIT(1), auth());
    c.send(whole.slice(0, 40));
    const r = await c.next();
    expect(r.status).toBe(408);
    await c.closedP;
    expect(up.seen.length).toBe(seen);
  });

  it('a new connection that sends nothing: 408 and closed after headersTimeout, as node:http does', async () => {
    const c = await RawConn.open(gw.url);
    const started = Date.now();
    expect((await c.next()).status).toBe(408);
    await c.closedP;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('a head trickled in byte by byte cannot extend headersTimeout', async () => {
    const c = await RawConn.open(gw.url);
    const whole = post('/mcp/demo', INIT(2), auth());
    let i = 0;
    const drip = setInterval(() => {
      if (!c.closed && i < whole.length) c.send(whole[i++]);
    }, 40);
    const r = await c.next();
    clearInterval(drip);
    expect(r.status).toBe(408);
    expect(i).toBeLessThan(whole.indexOf('\r\n\r\n'));
  });

  it('a body that does not arrive within headersTimeout: 408; nothing reaches the upstream', async () => {
    const c = await RawConn.open(gw.url);
    const seen = up.seen.length;
    const whole = post('/mcp/demo', INIT(3), auth());
    c.send(whole.slice(0, whole.indexOf('\r\n\r\n') + 6));
    expect((await c.next()).status).toBe(408);
    await c.closedP;
    expect(up.seen.length).toBe(seen);
  });

  it('a keep-alive connection idle for keepAliveTimeout is closed; one busy for longer is not', async () => {
    const idle = await RawConn.open(gw.url);
    idle.send(post('/mcp/demo', INIT(4), auth()));
    expect((await idle.next()).headers['keep-alive']).toBe('timeout=0');
    const started = Date.now();
    const busy = await RawConn.open(gw.url);
    busy.send(post('/mcp/held', INIT(40), auth()));
    await idle.closedP;
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    await new Promise((r) => setTimeout(r, 300));
    expect(busy.closed).toBe(false);
    await until(() => holds.length === 1);
    holds.shift()!();
    expect(JSON.parse((await busy.next()).body)).toMatchObject({ id: 40 });
    busy.close();
  });

  it('the drain closes idle lean connections at once and lets one in flight finish with Connection: close', async () => {
    const lifecycle = gw.t.app.services.lifecycle;
    const idle = await RawConn.open(gw.url);
    idle.send(post('/mcp/demo', INIT(5), auth()));
    expect((await idle.next()).status).toBe(200);
    const busy = await RawConn.open(gw.url);
    busy.send(post('/mcp/held', INIT(6), auth()));
    await until(() => holds.length === 1);
    const drained = lifecycle.drain(gw.t.app.http.server, () => gw.t.app.http.close(), 5_000);
    // At once: well before its keep-alive timeout (400 ms) would close it.
    await Promise.race([idle.closedP, new Promise((r) => setTimeout(r, 200))]);
    expect(idle.closed).toBe(true);
    expect(busy.closed).toBe(false);
    holds.shift()!();
    const r = await busy.next();
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ id: 6 });
    expect(r.headers.connection).toBe('close');
    await busy.closedP;
    expect((await drained).forced).toBe(0);
  });
});

describe('the drain and a proxied GET event stream whose upstream keeps sending', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;

  beforeAll(async () => {
    up = await startRawUpstream((req, res, raw) => {
      if (req.method === 'GET') {
        // Events as fast as the gateway takes them, so some are always in flight when the drain ends the stream.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const event = 'data: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"tick"}}\n\n';
        const pump = () => {
          while (!res.destroyed && res.write(event));
        };
        res.on('drain', pump);
        pump();
        return;
      }
      const msg = JSON.parse(raw);
      if (msg.method === 'initialize') {
        res
          .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'ticker', version: '1' } } }));
        return;
      }
      res.writeHead(202).end();
    });
    gw = await startMcpGateway({
      servers: [{ name: 'ticker', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['*'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('the drain ends the stream cleanly (chunked terminator, nothing forced) while the upstream keeps sending', async () => {
    const sid = await rawInitialize(`${gw.url}/mcp/ticker`, { authorization: `Bearer ${token}` });
    const c = await RawConn.open(gw.url);
    let got = '';
    c.socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    c.send(`GET /mcp/ticker HTTP/1.1\r\nHost: gw.test\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\nMcp-Session-Id: ${sid}\r\nMcp-Protocol-Version: 2025-06-18\r\n\r\n`);
    await until(() => got.includes('"tick"'));
    const result = await gw.t.app.services.lifecycle.drain(gw.t.app.http.server, () => gw.t.app.http.close(), 5_000);
    expect(result.streamsClosed).toBe(1);
    await c.closedP;
    // The chunked stream was terminated, not cut.
    expect(got.endsWith('0\r\n\r\n')).toBe(true);
    // The upstream went on sending; give it time to try.
    await new Promise((r) => setTimeout(r, 100));
    expect(result.forced).toBe(0);
  });
});
