/**
 * The lean HTTP/1.1 upstream client (src/proxy/upstreams/http1.ts) against raw
 * TCP upstreams that write exactly the bytes each case needs: framing (length,
 * chunked in tiny pieces, until close, 1xx, HEAD), keep-alive reuse and the
 * upstream's Keep-Alive hint, the connection limit, timeouts, backpressure,
 * aborts, every malformed response it must refuse (and never reuse the socket
 * after), request headers it must not send, and TLS with a real certificate.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  Http1Pool,
  InvalidRequestHeaderError,
  UpstreamAbortedError,
  UpstreamClosedError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  parseResponseHead,
  type Http1Handler,
  type Http1PoolOptions,
  type Http1Request,
} from '../../src/proxy/upstreams/http1.js';
import { createTestPki } from '../helpers/certs.js';

/** A raw upstream: `answer` gets each complete request head (+ body) and the socket to write to. */
interface RawUpstream {
  origin: string;
  connections: number;
  requests: string[];
  closedSockets: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function rawUpstream(answer: (req: string, socket: Socket, n: number) => void, server: Server = createServer()): Promise<RawUpstream> {
  const up: RawUpstream = {
    origin: '',
    connections: 0,
    requests: [],
    closedSockets: 0,
    close: async () => {},
  };
  const sockets = new Set<Socket>();
  server.on('addContext' in server ? 'secureConnection' : 'connection', (socket: Socket) => {
    up.connections++;
    sockets.add(socket);
    socket.on('close', () => {
      up.closedSockets++;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const len = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const req = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        up.requests.push(req);
        answer(req, socket, up.requests.length);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  up.origin = `${'addContext' in server ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = async () => {
    for (const s of sockets) s.destroy();
  };
  return up;
}

interface Outcome {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  chunks: number;
}

/** Collects one response; `onData` may pause the request. */
class Collector implements Http1Handler {
  status = 0;
  headers: Record<string, unknown> = {};
  parts: Buffer[] = [];
  result: Promise<Outcome>;
  private settle!: (o: Outcome) => void;
  private fail!: (e: Error) => void;
  constructor(private readonly onChunk?: (req: Http1Request, chunk: Buffer) => void) {
    this.result = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
  }
  onHead(_req: Http1Request, status: number, headers: Record<string, unknown>): void {
    this.status = status;
    this.headers = headers;
  }
  onData(req: Http1Request, chunk: Buffer): void {
    this.parts.push(chunk);
    this.onChunk?.(req, chunk);
  }
  onEnd(): void {
    this.settle({ status: this.status, headers: this.headers, body: Buffer.concat(this.parts).toString(), chunks: this.parts.length });
  }
  onError(_req: Http1Request, err: Error): void {
    this.fail(err);
  }
}

const OPTS: Http1PoolOptions = { connections: 4, keepAliveTimeout: 30_000, connectTimeout: 2_000, timeout: 2_000 };
const pools: Http1Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});
function pool(origin: string, o: Partial<Http1PoolOptions> = {}): Http1Pool {
  const p = new Http1Pool(origin, { ...OPTS, ...o });
  pools.push(p);
  return p;
}
function send(p: Http1Pool, body = '{"a":1}', headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST'): { c: Collector; req: Http1Request } {
  const c = new Collector();
  const req = p.request(method, '/mcp', headers, body, c);
  return { c, req };
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('Http1Pool: framing and reuse', () => {
  it('sends one well-formed request and reads a Content-Length reply; the socket is reused', async () => {
    const up = await rawUpstream((_req, s) => s.write(ok('{"r":1}', 'Mcp-Session-Id: s-1\r\n')));
    const p = pool(up.origin);
    const a = await send(p, '{"x":"é"}').c.result;
    expect(a).toMatchObject({ status: 200, body: '{"r":1}' });
    expect(a.headers['mcp-session-id']).toBe('s-1');
    expect(a.headers['content-type']).toBe('application/json');
    const host = new URL(up.origin).host;
    expect(up.requests[0]).toBe(`POST /mcp HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{"x":"é"}`.replace('é', Buffer.from('é').toString('latin1')));
    await send(p).c.result;
    expect(up.connections).toBe(1);
    expect(p.size).toBe(1);
  });

  it('reads a chunked reply written one byte at a time, with extensions and trailers, and reuses the socket', async () => {
    const wire = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{"a"\r\n5\r\n:"bc"\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n';
    const up = await rawUpstream((_req, s) => {
      let i = 0;
      const tick = () => {
        if (i < wire.length) s.write(wire[i++], 'latin1', () => setImmediate(tick));
      };
      tick();
    });
    const p = pool(up.origin);
    const r = await send(p).c.result;
    expect(JSON.parse(r.body)).toEqual({ a: 'bc' });
    expect(r.headers['x-trailer']).toBeUndefined();
    await send(p).c.result;
    expect(up.connections).toBe(1);
  });

  it('skips 1xx heads; repeated headers become arrays', async () => {
    const up = await rawUpstream((_req, s) => s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' + ok('{}', 'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n')));
    const r = await send(pool(up.origin)).c.result;
    expect(r.status).toBe(200);
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.headers.link).toBeUndefined();
  });

  it('a reply without length is read until the upstream closes, and its socket is not reused', async () => {
    const up = await rawUpstream((_req, s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ');
      setTimeout(() => s.end('part two'), 20);
    });
    const p = pool(up.origin);
    expect((await send(p).c.result).body).toBe('part one, part two');
    await send(p).c.result;
    expect(up.connections).toBe(2);
  });

  it('204, 304 and HEAD replies have no body even with a Content-Length', async () => {
    const up = await rawUpstream((req, s) => {
      if (req.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n');
      else s.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    const p = pool(up.origin);
    expect(await send(p).c.result).toMatchObject({ status: 204, body: '' });
    expect(await send(p, undefined, {}, 'HEAD').c.result).toMatchObject({ status: 200, body: '' });
    expect(up.connections).toBe(1);
  });

  it('Connection: close and HTTP/1.0 replies end their socket', async () => {
    const up = await rawUpstream((_req, s, n) => s.write(n === 1 ? ok('{}', 'Connection: close\r\n') : 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}'));
    const p = pool(up.origin);
    await send(p).c.result;
    await send(p).c.result;
    await send(p).c.result;
    expect(up.connections).toBe(3);
  });

  it("the upstream's Keep-Alive hint: a socket is not reused within a second of its timeout", async () => {
    const short = await rawUpstream((_req, s) => s.write(ok('{}', 'Keep-Alive: timeout=1\r\n')));
    const p1 = pool(short.origin);
    await send(p1).c.result;
    await send(p1).c.result;
    expect(short.connections).toBe(2);
    const long = await rawUpstream((_req, s) => s.write(ok('{}', 'Keep-Alive: timeout=5\r\n')));
    const p2 = pool(long.origin);
    await send(p2).c.result;
    await send(p2).c.result;
    expect(long.connections).toBe(1);
  });

  it('a socket idle for keepAliveTimeout is closed by the pool', async () => {
    const up = await rawUpstream((_req, s) => s.write(ok('{}')));
    const p = pool(up.origin, { keepAliveTimeout: 300 });
    await send(p).c.result;
    expect(p.size).toBe(1);
    await expect.poll(() => up.closedSockets, { timeout: 3_000 }).toBe(1);
    expect(p.size).toBe(0);
    // The next request opens a new socket.
    await send(p).c.result;
    expect(up.connections).toBe(2);
  });

  it('at the connection limit requests wait and are served in order on the open sockets', async () => {
    const up = await rawUpstream((req, s) => setTimeout(() => s.write(ok(req.slice(req.indexOf('\r\n\r\n') + 4))), 10));
    const p = pool(up.origin, { connections: 2 });
    const rs = [1, 2, 3, 4, 5].map((i) => send(p, `{"i":${i}}`).c.result);
    expect(p.size).toBe(2);
    expect((await Promise.all(rs)).map((r) => JSON.parse(r.body).i)).toEqual([1, 2, 3, 4, 5]);
    expect(up.connections).toBe(2);
  });
});

describe('Http1Pool: refusals', () => {
  const malformed: [string, string, RegExp?][] = [
    ['an invalid status line', 'HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\ncontent-length: 0\r\n\r\n', /folding/],
    ['a bare LF in a header', 'HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nx-a: a\u0001b\r\ncontent-length: 0\r\n\r\n'],
    ['a space in a header name', 'HTTP/1.1 200 OK\r\nx a: 1\r\ncontent-length: 0\r\n\r\n'],
    ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}', /conflicting/],
    ['a signed Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\n{}'],
    ['Transfer-Encoding with Content-Length', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n0\r\n\r\n', /both/],
    ['a Transfer-Encoding other than chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['an invalid chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n'],
    ['a protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n', /switch/],
    ['bytes after the response', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n'],
    ['a head above the size limit', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`, /too large/],
  ];
  for (const [what, wire, message] of malformed) {
    it(`refuses ${what} and never reuses the socket`, async () => {
      const up = await rawUpstream((_req, s, n) => s.write(n === 1 ? wire : ok('{"fine":1}'), 'latin1'));
      const p = pool(up.origin);
      const e = await send(p).c.result.catch((x: unknown) => x);
      if (what === 'bytes after the response') {
        // The response itself was complete and is delivered; the extra bytes end the socket.
        expect(e).toMatchObject({ status: 200, body: '{}' });
      } else {
        expect(e).toBeInstanceOf(UpstreamProtocolError);
        if (message) expect((e as Error).message).toMatch(message);
      }
      expect((await send(p).c.result).body).toBe('{"fine":1}');
      expect(up.connections).toBe(2);
    });
  }

  it('parseResponseHead trims optional whitespace and lower-cases names', () => {
    const h = parseResponseHead('HTTP/1.1 200 OK\r\nContent-Type: \t application/json \t\r\nX-Custom-Name:v\r\nContent-Length: 5, 5');
    expect(h.headers).toEqual({ 'content-type': 'application/json', 'x-custom-name': 'v', 'content-length': '5, 5' });
    expect(h.length).toBe(5);
    expect(parseResponseHead('HTTP/1.1 200').status).toBe(200);
    expect(() => parseResponseHead('HTTP/2 200 OK')).toThrow(UpstreamProtocolError);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\n__proto__: x').headers).toEqual({});
  });

  it('a header it will not send is refused before anything is written', async () => {
    const up = await rawUpstream((_req, s) => s.write(ok('{}')));
    const p = pool(up.origin);
    expect(() => send(p, '{}', { 'x-a': 'one\r\nx-injected: 1' })).toThrow(InvalidRequestHeaderError);
    expect(() => send(p, '{}', { 'x-a': 'nul\0' })).toThrow(InvalidRequestHeaderError);
    expect(() => send(p, '{}', { 'x-a': 'tab\tok but bell\u0007' })).toThrow(InvalidRequestHeaderError);
    // Written as latin1, U+010D U+010A would become CR LF: refused.
    expect(() => send(p, '{}', { 'x-a': 'a\u010d\u010ax-injected: 1' })).toThrow(InvalidRequestHeaderError);
    for (const name of ['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect', 'bad name'])
      expect(() => send(p, '{}', { [name]: 'x' })).toThrow(InvalidRequestHeaderError);
    expect(p.size).toBe(0);
    expect(up.connections).toBe(0);
    // obs-text and HTAB are allowed, and sent as latin1 bytes.
    await send(p, '{}', { 'x-a': 'caf\u00e9\tx' }).c.result;
    expect(up.requests[0]).toContain('x-a: caf\u00e9\tx\r\n');
  });
});

describe('Http1Pool: time, flow and failure', () => {
  it('no response head within the timeout fails with a headers timeout', async () => {
    const up = await rawUpstream(() => {});
    const e = await send(pool(up.origin, { timeout: 150 })).c.result.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UpstreamTimeoutError);
    expect((e as UpstreamTimeoutError).phase).toBe('headers');
    await expect.poll(() => up.closedSockets).toBe(1);
  });

  it('a head trickled in slowly does not extend the headers timeout', async () => {
    const up = await rawUpstream((_req, s) => {
      const t = setInterval(() => (s.writable ? s.write('x') : clearInterval(t)), 40);
      s.write('HTTP/1.1 200 OK\r\nx-slow: ');
      s.on('close', () => clearInterval(t));
    });
    const e = await send(pool(up.origin, { timeout: 200 })).c.result.catch((x: unknown) => x);
    expect((e as UpstreamTimeoutError).phase).toBe('headers');
  });

  it('a gap in the body longer than the timeout fails with a body timeout', async () => {
    const up = await rawUpstream((_req, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345'));
    const e = await send(pool(up.origin, { timeout: 150 })).c.result.catch((x: unknown) => x);
    expect((e as UpstreamTimeoutError).phase).toBe('body');
  });

  it('an upstream that closes mid-body fails the request with UpstreamClosedError', async () => {
    const up = await rawUpstream((_req, s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345'));
    expect(await send(pool(up.origin)).c.result.catch((x: unknown) => x)).toBeInstanceOf(UpstreamClosedError);
  });

  it('a refused connection fails the request', async () => {
    const up = await rawUpstream(() => {});
    const origin = up.origin;
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const e = await send(pool(origin)).c.result.catch((x: unknown) => x);
    expect((e as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('pause holds the body back until resume (backpressure), then the whole body arrives', async () => {
    const big = 'y'.repeat(512 * 1024);
    const up = await rawUpstream((_req, s) => s.write(ok(big)));
    const p = pool(up.origin);
    let seenWhilePaused = 0;
    let paused = false;
    const c = new Collector((req) => {
      if (paused) seenWhilePaused++;
      if (!paused && c.parts.length === 1) {
        paused = true;
        req.pause();
        setTimeout(() => {
          paused = false;
          req.resume();
        }, 100);
      }
    });
    p.request('POST', '/mcp', {}, '{}', c);
    const r = await c.result;
    expect(r.body.length).toBe(big.length);
    expect(seenWhilePaused).toBe(0);
    expect(r.chunks).toBeGreaterThan(1);
  });

  it('abort in flight closes the socket; abort while queued never sends the request', async () => {
    const up = await rawUpstream(() => {});
    const p = pool(up.origin, { connections: 1 });
    const first = send(p);
    const queued = send(p, '{"queued":1}');
    await expect.poll(() => up.requests.length).toBe(1);
    queued.req.abort();
    expect(await queued.c.result.catch((x: unknown) => x)).toBeInstanceOf(UpstreamAbortedError);
    first.req.abort(new Error('client gone'));
    expect(await first.c.result.catch((x: unknown) => (x as Error).message)).toBe('client gone');
    await expect.poll(() => up.closedSockets).toBe(1);
    expect(up.requests.join('')).not.toContain('queued');
  });

  it('close fails what is in flight and what comes after', async () => {
    const up = await rawUpstream(() => {});
    const p = new Http1Pool(up.origin, OPTS);
    const inflight = send(p);
    await expect.poll(() => up.requests.length).toBe(1);
    await p.close();
    expect(await inflight.c.result.catch((x: unknown) => x)).toBeInstanceOf(UpstreamAbortedError);
    expect(await send(p).c.result.catch((x: unknown) => x)).toBeInstanceOf(UpstreamAbortedError);
  });
});

describe('Http1Pool: TLS', () => {
  const pki = createTestPki({ clients: [] });
  afterAll(() => pki.cleanup());

  it('speaks TLS to an https origin and verifies its certificate', async () => {
    const server = createTlsServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) });
    const up = await rawUpstream((_req, s) => s.write(ok('{"tls":true}')), server);
    expect(up.origin.startsWith('https://')).toBe(true);
    expect(JSON.parse((await send(pool(up.origin, { tls: { ca: pki.ca } })).c.result).body)).toEqual({ tls: true });
    // Without the CA the certificate is not trusted: nothing is exchanged.
    const e = await send(pool(up.origin)).c.result.catch((x: unknown) => x);
    expect((e as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    expect(up.requests).toHaveLength(1);
  });

  it('a new socket resumes the TLS session of an earlier one', async () => {
    const server = createTlsServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) });
    const resumed: boolean[] = [];
    server.on('secureConnection', (s) => resumed.push(s.isSessionReused()));
    const up = await rawUpstream((_req, s) => setTimeout(() => s.write(ok('{}')), 20), server);
    const p = pool(up.origin, { tls: { ca: pki.ca }, connections: 2 });
    await send(p).c.result; // one socket, full handshake; its session ticket arrives with the reply
    await Promise.all([send(p).c.result, send(p).c.result]); // two in flight: a second socket
    expect(up.connections).toBe(2);
    expect(resumed).toEqual([false, true]);
  });
});
