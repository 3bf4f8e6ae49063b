/**
 * HttpUpstream.exchange(): the MCP POST hot path on undici's dispatch API.
 * JSON within the cap arrives as one Buffer; above it either streams on or
 * fails (the gateway must see all of a reply it rewrites); event streams are
 * Readables with backpressure whose destruction aborts the upstream request;
 * transport failures map onto 502 / 504.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteServerSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors/index.js';
import { HttpUpstream } from '../../src/proxy/upstreams/http.js';

let server: Server;
let base = '';
const seen: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
let sseClosed = 0;
let sseRes: ServerResponse | null = null;
const BIG = 'x'.repeat(300 * 1024);

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      switch (req.url) {
        case '/json':
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' });
          res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
          return;
        case '/json-chunked': // several writes, no content-length
          res.writeHead(200, { 'content-type': 'Application/JSON; charset=utf-8' });
          res.write('{"jsonrpc":"2.0","id":1,');
          setTimeout(() => res.end('"result":{"a":1}}'), 10);
          return;
        case '/big':
          res.writeHead(200, { 'content-type': 'application/json' });
          for (let i = 0; i < 4; i++) res.write(BIG);
          res.end();
          return;
        case '/accepted':
          res.writeHead(202).end();
          return;
        case '/sse':
          sseRes = res;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
          res.on('close', () => sseClosed++);
          return;
        case '/slow':
          return; // never answers
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

function upstream(path: string, timeout = 2_000): HttpUpstream {
  return new HttpUpstream(remoteServerSchema.parse({ name: 'u', url: `${base}${path}`, timeout: `${timeout}ms` }));
}

async function text(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

describe('HttpUpstream.exchange', () => {
  it('gathers a JSON reply into one Buffer and sends the body with its content-length', async () => {
    const u = upstream('/json');
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call"}';
    const r = await u.exchange({ method: 'POST', headers: { 'content-type': 'application/json' }, body, gather: 1024, overflow: 'stream' });
    expect(r.status).toBe(200);
    expect(Buffer.isBuffer(r.body)).toBe(true);
    expect(r.body.toString()).toBe('{"jsonrpc":"2.0","id":1,"result":{}}');
    expect(r.headers['mcp-session-id']).toBe('up-1');
    const got = seen.at(-1)!;
    expect(got.body).toBe(body);
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(u.lastOk).toBe(true);
    await u.close();
  });

  it('gathers a JSON reply that arrives in several chunks (content type matched case-insensitively)', async () => {
    const u = upstream('/json-chunked');
    const r = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail' });
    expect(Buffer.isBuffer(r.body)).toBe(true);
    expect(JSON.parse(r.body.toString())).toEqual({ jsonrpc: '2.0', id: 1, result: { a: 1 } });
    await u.close();
  });

  it('an empty 202 reply is an empty Buffer', async () => {
    const u = upstream('/accepted');
    const r = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'stream' });
    expect(r.status).toBe(202);
    expect(Buffer.isBuffer(r.body) && r.body.length).toBe(0);
    await u.close();
  });

  it("above the cap with overflow 'stream' the whole reply arrives as a Readable", async () => {
    const u = upstream('/big');
    const r = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 64 * 1024, overflow: 'stream' });
    expect(r.body).toBeInstanceOf(Readable);
    expect(await text(r.body as Readable)).toBe(BIG.repeat(4));
    await u.close();
  });

  it("above the cap with overflow 'fail' the exchange fails with 502 upstream_unavailable", async () => {
    const u = upstream('/big');
    const e = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 64 * 1024, overflow: 'fail' }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.code).toBe('upstream_unavailable');
    expect(e.status).toBe(502);
    expect(e.detail).toMatch(/too large/);
    // The pool is still usable afterwards.
    const ok = await upstream('/json').exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail' });
    expect(ok.status).toBe(200);
    await u.close();
  });

  it('an event stream is a Readable; destroying it aborts the upstream request', async () => {
    const u = upstream('/sse');
    const before = sseClosed;
    const r = await u.exchange({ method: 'POST', headers: { accept: 'text/event-stream' }, body: '{}', gather: 1024, overflow: 'fail' });
    expect(r.headers['content-type']).toBe('text/event-stream');
    const s = r.body as Readable;
    expect(s).toBeInstanceOf(Readable);
    const first = await new Promise<string>((resolve) => s.once('data', (c: Buffer) => resolve(c.toString())));
    expect(first).toContain('"result"');
    sseRes!.write('data: more\n\n');
    s.destroy();
    await expect.poll(() => sseClosed, { timeout: 2_000 }).toBe(before + 1);
    await u.close();
  });

  it('no response headers within the timeout → 504 upstream_timeout', async () => {
    const u = upstream('/slow', 200);
    const e = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail' }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.code).toBe('upstream_timeout');
    expect(e.status).toBe(504);
    expect(u.lastOk).toBe(false);
    await u.close();
  });

  it('nothing listening → 502 upstream_unavailable', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const u = new HttpUpstream(remoteServerSchema.parse({ name: 'gone', url: `http://127.0.0.1:${port}/mcp` }));
    const e = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail' }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.code).toBe('upstream_unavailable');
    expect(e.status).toBe(502);
    await u.close();
  });

  it('a signal aborts the exchange; a long-lived signal keeps no listener once exchanges end', async () => {
    const u = upstream('/json');
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await u.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail', signal: ac.signal });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const slow = upstream('/slow');
    const pending = slow.exchange({ method: 'POST', headers: {}, body: '{}', gather: 1024, overflow: 'fail', signal: ac.signal }).catch((x) => x);
    await expect.poll(() => seen.some((r) => r.path === '/slow')).toBe(true);
    ac.abort();
    const e = await pending;
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.detail).toBe('The request was aborted');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    await u.close();
    await slow.close();
  });
});

describe('HttpUpstream: informational responses', () => {
  it('a 103 Early Hints before the response is not taken for the response', async () => {
    const early = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {}\n\n');
      });
    });
    await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
    const u = new HttpUpstream(remoteServerSchema.parse({ name: 'e', url: `http://127.0.0.1:${(early.address() as AddressInfo).port}/mcp` }));
    try {
      for (const gather of [0, 1024]) {
        const r = await u.exchange({ method: 'POST', headers: {}, body: '{}', gather, overflow: 'stream' });
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toBe('text/event-stream');
        expect(await text(r.body as Readable)).toBe('data: {}\n\n');
      }
    } finally {
      await u.close();
      early.close();
    }
  });
});
