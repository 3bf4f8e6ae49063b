/**
 * The lean layer's request-head parser (src/http/lean/head.ts): what it
 * accepts, what it hands to node:http, and — differentially — that every head
 * it accepts, node:http (llhttp, strict) accepts with the same method, target,
 * headers and body. A head the parser refuses is not an error (node:http
 * serves or refuses it), so only acceptance has to be right.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { couldBeLean, HANDOFF, INCOMPLETE, MAX_HEAD, parseRequestHead, type LeanHead } from '../../src/http/lean/head.js';

const LIMIT = 1024;
const parse = (s: string | Buffer, limit = LIMIT) => parseRequestHead(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'), limit);
const accepted = (r: ReturnType<typeof parse>): LeanHead => {
  if (r === INCOMPLETE || r === HANDOFF) throw new Error(`expected a head, got ${r === INCOMPLETE ? 'INCOMPLETE' : 'HANDOFF'}`);
  return r;
};

const POST = 'POST /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

describe('lean head parser: what it accepts', () => {
  it('a POST with one Content-Length, and its fields in node:http shape', () => {
    const h = accepted(parse('POST /mcp/demo?x=1&y=%2F HTTP/1.1\r\nHost: gw.test\r\nAuthorization:   Bearer abc \t\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}'));
    expect(h.method).toBe('POST');
    expect(h.url).toBe('/mcp/demo?x=1&y=%2F');
    expect(h.headers).toEqual({ host: 'gw.test', authorization: 'Bearer abc', 'content-length': '2', connection: 'keep-alive' });
    expect(h.rawHeaders).toEqual(['Host', 'gw.test', 'Authorization', 'Bearer abc', 'Content-Length', '2', 'Connection', 'keep-alive']);
    expect(h.contentLength).toBe(2);
    expect(h.close).toBe(false);
    expect(h.headLength).toBe(Buffer.byteLength('POST /mcp/demo?x=1&y=%2F HTTP/1.1\r\nHost: gw.test\r\nAuthorization:   Bearer abc \t\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n'));
  });

  it('a DELETE without a body, and Connection: close', () => {
    const h = accepted(parse('DELETE /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nMcp-Session-Id: s1\r\nConnection: Keep-Alive, close\r\n\r\n'));
    expect(h.method).toBe('DELETE');
    expect(h.contentLength).toBe(0);
    expect(h.close).toBe(true);
  });

  it('a body limit exactly reached is accepted; one byte over is handed off', () => {
    expect(accepted(parse(POST, 2)).contentLength).toBe(2);
    expect(parse(POST, 1)).toBe(HANDOFF);
  });

  it('the first bytes say at once whether a head can be the narrow shape', () => {
    for (const yes of ['P', 'POST', 'POST /mcp/', 'POST /mcp/demo HTTP/1.1', 'D', 'DELETE /mc']) expect(couldBeLean(Buffer.from(yes)), yes).toBe(true);
    for (const no of ['G', 'GET /mcp/demo', 'PUT /mcp/demo', 'POST /api/', 'POST  /mcp/', 'post /mcp/', 'DELETE /api', '\x16\x03\x01']) expect(couldBeLean(Buffer.from(no, 'latin1')), no).toBe(false);
  });

  it('every strict prefix of an acceptable head is INCOMPLETE, never accepted or handed off', () => {
    const head = POST.slice(0, POST.indexOf('\r\n\r\n') + 4);
    for (let i = 1; i < head.length; i++) expect(parse(head.slice(0, i)), `prefix of ${i} bytes`).toBe(INCOMPLETE);
    expect(accepted(parse(head)).contentLength).toBe(2);
  });
});

describe('lean head parser: what it hands to node:http', () => {
  const cases: [string, string][] = [
    ['GET', 'GET /mcp/demo HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['lower-case method', 'post /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['another path', 'POST /api/v1/tokens HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['a nested path', 'POST /mcp/demo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['an empty server segment', 'POST /mcp/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['absolute-form target', 'POST http://a/mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['a fragment', 'POST /mcp/demo#x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['a bad percent escape', 'POST /mcp/de%zzmo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['two spaces after the method', 'POST  /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/1.0', 'POST /mcp/demo HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/2.0 in a 1.1 head', 'POST /mcp/demo HTTP/2.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['no Host', 'POST /mcp/demo HTTP/1.1\r\nContent-Length: 0\r\n\r\n'],
    ['two Host headers', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n'],
    ['a POST without Content-Length', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['Content-Length and Transfer-Encoding', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding alone', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: identity', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: identity\r\n\r\n'],
    ['two Content-Length headers', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}'],
    ['a Content-Length list', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\n{}'],
    ['a signed Content-Length', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n{}'],
    ['a negative Content-Length', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n'],
    ['a hex Content-Length', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\n{}'],
    ['an empty Content-Length', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n'],
    ['a Content-Length of 16 digits', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000002\r\n\r\n{}'],
    ['Expect', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n'],
    ['Upgrade', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['Connection: upgrade', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: upgrade\r\n\r\n'],
    ['another Connection token', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive, x-hop\r\n\r\n'],
    ['HTTP2-Settings', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'],
    ['obs-fold', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['obs-fold with a tab', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF between headers', 'POST /mcp/demo HTTP/1.1\r\nHost: a\nContent-Length: 0\r\n\r\n'],
    ['bare LF line endings throughout', 'POST /mcp/demo HTTP/1.1\nHost: a\nContent-Length: 0\n\n'],
    ['a bare CR', 'POST /mcp/demo HTTP/1.1\r\nHost: a\rX: y\r\nContent-Length: 0\r\n\r\n'],
    ['a NUL in a value', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\nContent-Length: 0\r\n\r\n'],
    ['DEL in a value', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\x7f\r\nContent-Length: 0\r\n\r\n'],
    ['obs-text in a value', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\nContent-Length: 0\r\n\r\n'],
    ['a vertical tab in a value', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\x0b\r\nContent-Length: 0\r\n\r\n'],
    ['whitespace before the colon', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n'],
    ['a separator in a name', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX(A): 1\r\nContent-Length: 0\r\n\r\n'],
    ['a line without a colon', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nnocolon\r\nContent-Length: 0\r\n\r\n'],
    ['an empty name', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\n: x\r\nContent-Length: 0\r\n\r\n'],
    ['a repeated ordinary header', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\nContent-Length: 0\r\n\r\n'],
    ['__proto__', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\n__proto__: x\r\nContent-Length: 0\r\n\r\n'],
    ['a name Object.prototype answers', 'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nConstructor: x\r\nContent-Length: 0\r\n\r\n'],
    ['a head above MAX_HEAD', `POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(MAX_HEAD)}\r\nContent-Length: 0\r\n\r\n`],
    ['an unfinished head at MAX_HEAD', `POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(MAX_HEAD)}`],
    ['too many headers', `POST /mcp/demo HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 70 }, (_, i) => `X-${i}: 1\r\n`).join('')}Content-Length: 0\r\n\r\n`],
    ['an unfinished head with a bare LF', 'POST /mcp/demo HTTP/1.1\nHost: a'],
    ['an unfinished head with a bare CR', 'POST /mcp/demo HTTP/1.1\r\nHost: a\rX'],
    ['a CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a TLS ClientHello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  ];
  for (const [name, head] of cases) {
    it(`hands off: ${name}`, () => {
      expect(parse(head)).toBe(HANDOFF);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Differential: node:http (the server the gateway runs, default strict parser) as the oracle.

interface NodeView {
  status: number;
  seen: { method: string; url: string; headers: Record<string, string>; rawHeaders: string[]; body: string } | null;
}

let oracle: Server;
let port = 0;

/** What node:http makes of `input`: the request it dispatched (echoed back as JSON), or the status it refused with. */
function nodeView(input: Buffer): Promise<NodeView> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const status = raw.startsWith('HTTP/1.1 ') ? Number(raw.slice(9, 12)) : 0;
      const start = raw.indexOf('\r\n\r\n');
      try {
        resolve({ status, seen: status === 200 ? JSON.parse(Buffer.from(raw.slice(start + 4), 'latin1').toString('utf8')) : null });
      } catch (e) {
        reject(e);
      }
    });
    socket.write(input);
  });
}

/** A deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = [
  POST,
  'DELETE /mcp/demo HTTP/1.1\r\nHost: gw.test\r\nMcp-Session-Id: 0b1c\r\n\r\n',
  'POST /mcp/demo?a=1&b=%20 HTTP/1.1\r\nHost: gw.test:8443\r\nAuthorization: Bearer pcs_abc\r\nX-API-Key: k\r\nAccept: application/json, text/event-stream\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello',
];
/** Bytes that matter to HTTP framing, plus ordinary ones. */
const ALPHABET = [' ', '\t', '\r', '\n', ':', ',', ';', '\x00', '\x01', '\x0b', '\x7f', '\x80', '\xff', 'a', 'Z', '0', '9', '-', '+', '"', '/', '?', '#', '%', '(', '@'];
const LINES = ['Content-Length: 2', 'Content-Length: 0', 'Transfer-Encoding: chunked', 'Host: other', 'Connection: close', 'Connection: upgrade', 'Expect: 100-continue', ' folded', 'X-Dup: 1', 'x-dup: 2', 'Content-Length: 02'];

function mutate(base: string, rnd: () => number): string {
  const headEnd = base.indexOf('\r\n\r\n') + 4;
  let s = base;
  const n = 1 + Math.floor(rnd() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * Math.min(s.length, headEnd + 2));
    const ch = ALPHABET[Math.floor(rnd() * ALPHABET.length)];
    switch (Math.floor(rnd() * 5)) {
      case 0:
        s = s.slice(0, at) + ch + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + ch + s.slice(at + 1);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 3: {
        // Insert a whole header line after the request line.
        const eol = s.indexOf('\r\n');
        s = `${s.slice(0, eol + 2)}${LINES[Math.floor(rnd() * LINES.length)]}\r\n${s.slice(eol + 2)}`;
        break;
      }
      default: {
        // Change the case of one character.
        const c = s[at];
        s = s.slice(0, at) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + s.slice(at + 1);
      }
    }
  }
  return s;
}

describe('lean head parser against node:http', () => {
  beforeAll(async () => {
    oracle = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('latin1') });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
      });
    });
    await new Promise<void>((r) => oracle.listen(0, '127.0.0.1', r));
    port = (oracle.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => oracle.close(() => r())));

  it('every mutated head the parser accepts, node:http accepts with the same meaning', async () => {
    const rnd = prng(0x5eed);
    let acceptedCount = 0;
    let handedOff = 0;
    for (let i = 0; i < 3000; i++) {
      const input = mutate(BASES[i % BASES.length], rnd);
      const r = parse(input);
      if (r === HANDOFF) {
        handedOff++;
        continue;
      }
      if (r === INCOMPLETE) continue;
      acceptedCount++;
      // Exactly the head and the body it declares (padded when the mutation shortened it).
      const body = input.slice(r.headLength, r.headLength + r.contentLength).padEnd(r.contentLength, 'x');
      const view = await nodeView(Buffer.from(input.slice(0, r.headLength) + body, 'latin1'));
      const label = `case ${i}: ${JSON.stringify(input)}`;
      expect(view.status, label).toBe(200);
      expect(view.seen, label).toEqual({ method: r.method, url: r.url, headers: r.headers, rawHeaders: r.rawHeaders, body });
    }
    // The corpus exercises both sides: many heads accepted, many handed off.
    expect(acceptedCount).toBeGreaterThan(300);
    expect(handedOff).toBeGreaterThan(1000);
  }, 60_000);

  it('the named smuggling cases node:http refuses are all handed off (never accepted here)', async () => {
    const refusedByNode = [
      'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x',
      'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n',
      'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n',
      'POST /mcp/demo HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
      'POST /mcp/demo HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\nContent-Length: 0\r\n\r\n',
    ];
    for (const input of refusedByNode) {
      expect((await nodeView(Buffer.from(input, 'latin1'))).status, JSON.stringify(input)).toBe(400);
      expect(parse(input), JSON.stringify(input)).toBe(HANDOFF);
    }
  });
});
