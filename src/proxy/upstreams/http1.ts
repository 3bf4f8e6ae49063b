/**
 * A lean HTTP/1.1 client for an upstream's request/response traffic (MCP
 * POSTs, DELETEs, discovery): a bounded keep-alive pool of plain or TLS
 * sockets, one request at a time on each, the request written in one `writev`
 * and the response parsed straight off the socket's buffers.
 *
 * Why not undici here: on the two-core machines the benchmark runs on, undici's
 * generic layers (request objects, header validation and serialization per
 * call, its wasm parser and handler wrappers) cost ~20 µs of the gateway's CPU
 * per proxied request, about a sixth of it (docs/performance-history.md, "Thirteenth
 * round"). undici still serves the long-lived GET event streams.
 *
 * The parser is strict, as llhttp is in Node's strict mode, and refuses what it
 * does not expect rather than guessing: obs-fold, bare CR or LF, control
 * characters in values, a malformed or conflicting Content-Length, any
 * Transfer-Encoding but `chunked`, both framings at once, a head above
 * `maxHeaderSize`, a 101 the gateway never asked for, and bytes after a
 * response. A refused response fails the request (the caller answers 502) and
 * its socket is closed, never reused.
 *
 * A request is never retried: a POST may already have reached the upstream
 * when its socket fails. The upstream's `Keep-Alive: timeout=N` hint is
 * honoured (a socket is not reused within a second of it) so an idle socket is
 * not picked just as the upstream closes it.
 */
import { type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { BAD_FIELD_VALUE_CHAR, HTTP_TOKEN, RESERVED_REQUEST_HEADERS } from '../../lib/http-syntax.js';

/** The response could not be parsed, or broke the protocol. */
export class UpstreamProtocolError extends Error {
  override name = 'UpstreamProtocolError';
}

/** No connection (`connect`), no response head (`headers`) or a gap in the body (`body`) within the time allowed. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError';
  constructor(readonly phase: 'connect' | 'headers' | 'body') {
    super(`upstream ${phase} timeout`);
  }
}

/** The socket closed before the response was complete. */
export class UpstreamClosedError extends Error {
  override name = 'UpstreamClosedError';
}

/** The caller gave up on the request (`abort()`), or the pool was closed. */
export class UpstreamAbortedError extends Error {
  override name = 'UpstreamAbortedError';
}

/** A request header the client will not send (not a token, a framing or hop-by-hop header, or a value with a control character or a character above U+00FF). */
export class InvalidRequestHeaderError extends Error {
  override name = 'InvalidRequestHeaderError';
}

export interface Http1Handler {
  /** The final response head (1xx heads are skipped). */
  onHead(req: Http1Request, status: number, headers: IncomingHttpHeaders): void;
  /** A piece of the body; call `req.pause()` to stop the flow until `req.resume()`. */
  onData(req: Http1Request, chunk: Buffer): void;
  onEnd(req: Http1Request): void;
  /** Called at most once, and never after `onEnd`. */
  onError(req: Http1Request, err: Error): void;
}

export interface Http1PoolOptions {
  /** Sockets open at most; further requests wait in order. */
  connections: number;
  /** An idle socket is closed after this long (ms). */
  keepAliveTimeout: number;
  connectTimeout: number;
  /** The wait for the response head, and the longest gap in its body (ms); 0: none. */
  timeout: number;
  /** Largest response head (and chunked trailer section) accepted; Node's default. */
  maxHeaderSize?: number;
  /** More TLS options for https origins (the CA in tests); the defaults verify the certificate. */
  tls?: ConnectionOptions;
}

/** Response header values: visible characters, obs-text, SP and HTAB only. */
const BAD_RESPONSE_VALUE_RE = /[\0-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE_RE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CHUNK_SIZE_RE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CONTENT_LENGTH_RE = /^\d{1,15}$/;
/**
 * Set by the client itself (host, framing) or hop-by-hop: a caller's value is refused rather
 * than sent twice. The configuration refuses them in a server's `headers` too.
 */
/** Header names already checked by `sendable` (a few dozen in practice; bounded all the same). */
const SENDABLE = new Set<string>();
function sendable(k: string): void {
  if (!HTTP_TOKEN.test(k) || RESERVED_REQUEST_HEADERS.has(k.toLowerCase())) throw new InvalidRequestHeaderError(`header ${JSON.stringify(k)} cannot be sent`);
  if (SENDABLE.size < 1024) SENDABLE.add(k);
}
const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_CHUNK_LINE = 4096;
/** A socket is not reused within this long of the upstream's announced keep-alive timeout. */
const KEEP_ALIVE_MARGIN = 1_000;

/** One request: queued, then bound to a socket until its response ends or fails. */
export class Http1Request {
  conn: Conn | null = null;
  paused = false;
  done = false;

  constructor(
    readonly pool: Http1Pool,
    readonly head: string,
    readonly body: Buffer | string | undefined,
    readonly handler: Http1Handler,
    /** HEAD requests' responses have no body. */
    readonly noBody: boolean,
  ) {}

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.conn?.pause();
  }

  resume(): void {
    if (this.done || !this.paused) return;
    this.paused = false;
    this.conn?.resume();
  }

  /** Give up: the socket is closed (a response cannot be left half read) and `onError` gets `err`. */
  abort(err: Error = new UpstreamAbortedError('aborted')): void {
    if (this.done) return;
    if (this.conn) this.conn.fail(err);
    else {
      this.pool.dequeue(this);
      this.done = true;
      this.handler.onError(this, err);
    }
  }
}

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

interface ParsedHead {
  status: number;
  headers: IncomingHttpHeaders;
  /** -1: none given. */
  length: number;
  chunked: boolean;
  /** The socket may not carry another request. */
  close: boolean;
  /** The upstream's keep-alive timeout (ms), when it announced one. */
  keepAlive: number | null;
}

/** tchar (RFC 9110 §5.6.2) by char code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/**
 * Common response header names, lower-case, by length: a name matching one
 * (case-insensitively) is that constant string, with no new string made and
 * hashed as a property key per reply.
 */
const KNOWN_NAMES: string[][] = [];
for (const name of [
  'date', 'etag', 'vary', 'server', 'expires', 'connection', 'keep-alive', 'set-cookie', 'retry-after', 'content-type',
  'x-powered-by', 'cache-control', 'last-modified', 'content-length', 'mcp-session-id', 'content-encoding', 'www-authenticate',
  'transfer-encoding', 'mcp-protocol-version', 'access-control-allow-origin',
]) (KNOWN_NAMES[name.length] ??= []).push(name);

/** The known lower-case name equal (ignoring ASCII case) to text[start, end), or undefined. */
function knownName(text: string, start: number, end: number): string | undefined {
  const candidates = KNOWN_NAMES[end - start];
  if (candidates === undefined) return undefined;
  next: for (const name of candidates) {
    for (let j = 0; j < name.length; j++) {
      let c = text.charCodeAt(start + j);
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name.charCodeAt(j)) continue next;
    }
    return name;
  }
  return undefined;
}

/**
 * Parse a response head (without its final CRLFCRLF); throws
 * UpstreamProtocolError. It runs for every upstream reply, so names are scanned
 * by char code (common ones interned) and each value is found with `indexOf`
 * and checked with one native character-class test.
 */
export function parseResponseHead(text: string): ParsedHead {
  let eol = text.indexOf('\r\n');
  if (eol === -1) eol = text.length;
  const m = STATUS_LINE_RE.exec(eol === text.length ? text : text.slice(0, eol));
  if (m === null) throw new UpstreamProtocolError('invalid status line');
  const http10 = m[1] === '0';
  const headers: IncomingHttpHeaders = {};
  let length = -1;
  let te: string | null = null;
  let close = http10;
  let keepAlive: number | null = null;
  const n = text.length;
  let i = eol + 2;
  while (i < n) {
    // field-name ":" OWS field-value OWS CRLF
    const start = i;
    let c = text.charCodeAt(i);
    if (c === 32 || c === 9) throw new UpstreamProtocolError('obsolete line folding');
    while (i < n && (c = text.charCodeAt(i)) !== 58) {
      if (c >= 128 || TCHAR[c] === 0) throw new UpstreamProtocolError('invalid header name');
      i++;
    }
    if (i === start || i === n) throw new UpstreamProtocolError('invalid header line');
    const key = knownName(text, start, i) ?? text.slice(start, i).toLowerCase();
    i++;
    while (i < n && ((c = text.charCodeAt(i)) === 32 || c === 9)) i++;
    const vstart = i;
    let eolv = text.indexOf('\r', i);
    if (eolv === -1) eolv = n;
    let vend = eolv;
    while (vend > vstart && ((c = text.charCodeAt(vend - 1)) === 32 || c === 9)) vend--;
    const value = text.slice(vstart, vend);
    // Checked by one native scan (a bare LF or any other control character fails it).
    if (BAD_RESPONSE_VALUE_RE.test(value)) throw new UpstreamProtocolError('invalid header value');
    i = eolv;
    if (i < n) {
      if (text.charCodeAt(i + 1) !== 10) throw new UpstreamProtocolError('invalid header line');
      i += 2;
    }
    switch (key) {
      case 'content-length':
        length = contentLength(value, length);
        break;
      case 'transfer-encoding':
        te = te === null ? value : `${te}, ${value}`;
        break;
      case 'connection': {
        const v = value.toLowerCase();
        if (v !== 'keep-alive') for (const t of v.split(',')) if (t.trim() === 'close') close = true;
        if (http10 && v.includes('keep-alive')) close = false;
        break;
      }
      case 'keep-alive':
        keepAlive = keepAliveTimeout(value);
        break;
      case '__proto__':
        continue;
    }
    const had = headers[key];
    if (had === undefined) headers[key] = value;
    else if (Array.isArray(had)) had.push(value);
    else headers[key] = [had, value];
  }
  let chunked = false;
  if (te !== null) {
    if (te.trim().toLowerCase() !== 'chunked') throw new UpstreamProtocolError('unsupported transfer-encoding');
    if (length !== -1) throw new UpstreamProtocolError('both transfer-encoding and content-length');
    chunked = true;
  }
  return { status: Number(m[2]), headers, length, chunked, close, keepAlive };
}

/** A Content-Length value (a list of equal lengths is one length); `had`: an earlier one, or -1. */
function contentLength(value: string, had: number): number {
  let length = had;
  for (const part of value.includes(',') ? value.split(',') : [value]) {
    const v = part.trim();
    if (!CONTENT_LENGTH_RE.test(v)) throw new UpstreamProtocolError('invalid content-length');
    const len = Number(v);
    if (length !== -1 && length !== len) throw new UpstreamProtocolError('conflicting content-length');
    length = len;
  }
  return length;
}

let lastKeepAlive = '';
let lastKeepAliveMs: number | null = null;
/** `timeout=N` of a Keep-Alive header, in ms (upstreams send the same value every time: the last one is remembered). */
function keepAliveTimeout(value: string): number | null {
  if (value === lastKeepAlive) return lastKeepAliveMs;
  const t = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(value);
  lastKeepAlive = value;
  lastKeepAliveMs = t ? Number(t[1]) * 1000 : null;
  return lastKeepAliveMs;
}

/** One socket of the pool. */
export class Conn {
  readonly socket: Socket;
  private req: Http1Request | null = null;
  private state = State.Idle;
  private buf: Buffer | null = null;
  private remaining = 0;
  private parsing = false;
  private connecting = true;
  private reusable = true;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  /** When the socket last became idle (ms since the epoch). */
  idleSince = 0;
  /** The last response's keep-alive hint (ms). */
  private hint: number | null = null;
  /** After this time (ms since the epoch) the idle socket is not reused: the upstream may be closing it. */
  private keepAliveUntil = Infinity;

  constructor(private readonly pool: Http1Pool) {
    const o = pool.target;
    pool.opened(this);
    const socket = o.tls
      ? tlsConnect({ host: o.host, port: o.port, servername: isIP(o.host) ? undefined : o.host, ALPNProtocols: ['http/1.1'], session: pool.tlsSession, ...o.tls })
      : netConnect({ host: o.host, port: o.port });
    // The newest TLS session ticket is offered by the next socket: a resumed handshake skips the certificate exchange.
    if (o.tls) socket.on('session', (ticket: Buffer) => (pool.tlsSession = ticket));
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(pool.opts.connectTimeout);
    socket.once(o.tls ? 'secureConnect' : 'connect', () => {
      this.connecting = false;
      // No socket timeout once connected: Node would refresh it on every read and write. Idle
      // sockets are ended by the pool's sweep (Http1Pool.sweep), requests by `timer`.
      socket.setTimeout(0);
    });
    socket.on('timeout', () => {
      if (this.connecting) this.fail(new UpstreamTimeoutError('connect'));
    });
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => this.onClose(null));
    socket.on('error', (e) => this.onClose(e));
    socket.on('close', () => this.onClose(null));
  }

  /** Idle for longer than the pool keeps sockets. */
  expired(now: number): boolean {
    return now - this.idleSince >= this.pool.opts.keepAliveTimeout;
  }

  /** Idle, open, and not within the margin of the upstream's keep-alive timeout. */
  usable(now: number): boolean {
    return !this.closed && this.req === null && !this.expired(now) && now < this.keepAliveUntil;
  }

  send(req: Http1Request): void {
    this.req = req;
    req.conn = this;
    this.state = State.Head;
    const s = this.socket;
    s.cork();
    s.write(req.head, 'latin1');
    if (req.body !== undefined) s.write(req.body);
    s.uncork();
    this.arm();
    if (req.paused) this.pause();
  }

  pause(): void {
    if (!this.closed) this.socket.pause();
  }

  resume(): void {
    if (this.closed || this.req === null) return;
    this.arm();
    this.parse();
    if (this.req !== null && !this.req.paused && !this.closed) this.socket.resume();
  }

  /** Fail the current request (if any) and close the socket. */
  fail(err: Error): void {
    const req = this.req;
    this.req = null;
    this.destroy();
    if (req !== null && !req.done) {
      req.done = true;
      req.handler.onError(req, err);
    }
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.reusable = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.socket.destroy();
    this.pool.removed(this);
  }

  /** (Re)start the wait for the head or for the next body bytes. */
  private arm(): void {
    const ms = this.pool.opts.timeout;
    if (ms <= 0) return;
    if (this.timer === null) this.timer = setTimeout(this.onTimer, ms).unref();
    else this.timer.refresh();
  }

  private readonly onTimer = (): void => {
    const req = this.req;
    if (req === null || req.paused || this.closed) return;
    this.fail(new UpstreamTimeoutError(this.state === State.Head ? 'headers' : 'body'));
  };

  private onBytes(chunk: Buffer): void {
    if (this.req === null) {
      // Bytes nobody asked for: the connection is out of step.
      this.destroy();
      return;
    }
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.state !== State.Head) this.arm();
    this.parse();
  }

  private onClose(err: Error | null): void {
    if (this.closed && this.req === null) return;
    const req = this.req;
    if (req !== null && this.state === State.UntilClose && err === null) {
      this.req = null;
      this.destroy();
      this.end(req);
      return;
    }
    this.fail(err ?? new UpstreamClosedError('the upstream closed the connection'));
  }

  /** Consume buffered bytes as far as the state and the consumer's pause allow. */
  private parse(): void {
    if (this.parsing) return;
    this.parsing = true;
    try {
      while (this.buf !== null && this.req !== null && !this.req.paused && !this.closed) {
        if (!this.step(this.req, this.buf)) break;
      }
    } catch (e) {
      this.fail(e instanceof Error ? e : new UpstreamProtocolError(String(e)));
    } finally {
      this.parsing = false;
    }
  }

  /** One parsing step on `buf`; false when more bytes are needed. */
  private step(req: Http1Request, buf: Buffer): boolean {
    const max = this.pool.opts.maxHeaderSize ?? 16_384;
    switch (this.state) {
      case State.Head: {
        const end = buf.indexOf(CRLFCRLF);
        if (end === -1) {
          if (buf.length > max) throw new UpstreamProtocolError('response head too large');
          return false;
        }
        if (end > max) throw new UpstreamProtocolError('response head too large');
        const head = parseResponseHead(buf.toString('latin1', 0, end));
        this.take(end + 4);
        if (head.status < 200) {
          if (head.status === 101) throw new UpstreamProtocolError('unexpected protocol switch');
          return true; // informational: the final head follows
        }
        if (head.close) this.reusable = false;
        this.hint = head.keepAlive;
        const bodiless = req.noBody || head.status === 204 || head.status === 304;
        if (bodiless) this.state = State.Idle;
        else if (head.chunked) this.state = State.ChunkSize;
        else if (head.length >= 0) {
          this.state = head.length === 0 ? State.Idle : State.Length;
          this.remaining = head.length;
        } else {
          this.state = State.UntilClose;
          this.reusable = false;
        }
        req.handler.onHead(req, head.status, head.headers);
        if (this.state === State.Idle && this.req === req) this.finish(req);
        return true;
      }
      case State.Length:
      case State.ChunkData: {
        const n = Math.min(this.remaining, buf.length);
        const piece = n === buf.length ? buf : buf.subarray(0, n);
        this.take(n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = this.state === State.Length ? State.Idle : State.ChunkEnd;
        const next = this.state;
        req.handler.onData(req, piece);
        if (next === State.Idle && this.req === req) this.finish(req);
        return true;
      }
      case State.UntilClose: {
        this.buf = null;
        req.handler.onData(req, buf);
        return true;
      }
      case State.ChunkSize: {
        const eol = buf.indexOf('\r\n');
        if (eol === -1) {
          if (buf.length > MAX_CHUNK_LINE) throw new UpstreamProtocolError('chunk size line too long');
          return false;
        }
        const m = CHUNK_SIZE_RE.exec(buf.toString('latin1', 0, eol));
        if (m === null) throw new UpstreamProtocolError('invalid chunk size');
        this.take(eol + 2);
        const size = parseInt(m[1], 16);
        if (size === 0) this.state = State.Trailers;
        else {
          this.state = State.ChunkData;
          this.remaining = size;
        }
        return true;
      }
      case State.ChunkEnd: {
        if (buf.length < 2) return false;
        if (buf[0] !== 13 || buf[1] !== 10) throw new UpstreamProtocolError('invalid chunk terminator');
        this.take(2);
        this.state = State.ChunkSize;
        return true;
      }
      case State.Trailers: {
        // Trailer fields are read and dropped; the section ends with an empty line.
        if (buf.length >= 2 && buf[0] === 13 && buf[1] === 10) {
          this.take(2);
          this.finish(req);
          return true;
        }
        const end = buf.indexOf(CRLFCRLF);
        if (end === -1) {
          if (buf.length > max) throw new UpstreamProtocolError('trailer section too large');
          return false;
        }
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        for (const line of lines) {
          const colon = line.indexOf(':');
          if (colon <= 0 || !HTTP_TOKEN.test(line.slice(0, colon)) || BAD_RESPONSE_VALUE_RE.test(line.slice(colon + 1))) throw new UpstreamProtocolError('invalid trailer');
        }
        this.take(end + 4);
        this.finish(req);
        return true;
      }
      default:
        throw new UpstreamProtocolError('response bytes after the response');
    }
  }

  private take(n: number): void {
    const b = this.buf!;
    this.buf = n >= b.length ? null : b.subarray(n);
  }

  /** The response is complete: the socket goes back to the pool (or closes), then the handler hears of it. */
  private finish(req: Http1Request): void {
    this.req = null;
    this.state = State.Idle;
    if (this.buf !== null) this.reusable = false; // bytes beyond the response: out of step
    if (!this.reusable) this.destroy();
    else {
      this.idleSince = Date.now();
      this.keepAliveUntil = this.hint === null ? Infinity : this.idleSince + this.hint - KEEP_ALIVE_MARGIN;
      if (req.paused) this.socket.resume();
      this.pool.release(this);
    }
    this.end(req);
  }

  private end(req: Http1Request): void {
    req.done = true;
    req.conn = null;
    req.handler.onEnd(req);
  }
}

export interface Http1Target {
  host: string;
  port: number;
  tls: ConnectionOptions | null;
  /** The Host header's value. */
  authority: string;
}

/** A bounded keep-alive pool of HTTP/1.1 sockets to one origin. */
export class Http1Pool {
  readonly target: Http1Target;
  private readonly idle: Conn[] = [];
  private readonly queue: Http1Request[] = [];
  /** Every open socket (connecting, busy or idle); it changes per connection, not per request. */
  private readonly conns = new Set<Conn>();
  private closed = false;
  private sweeper: NodeJS.Timeout | null = null;
  /** The newest TLS session of this origin, for resumption (https only). */
  tlsSession: Buffer | undefined = undefined;

  constructor(
    origin: string,
    readonly opts: Http1PoolOptions,
  ) {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`unsupported protocol ${u.protocol}`);
    const secure = u.protocol === 'https:';
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.target = { host, port: Number(u.port || (secure ? 443 : 80)), tls: secure ? (opts.tls ?? {}) : null, authority: u.host };
  }

  /** Sockets open (connecting, busy or idle). */
  get size(): number {
    return this.conns.size;
  }

  /**
   * Start a request. Header names are lower-case tokens; the client adds Host,
   * Content-Length (for a body) and keep-alive itself. Throws
   * InvalidRequestHeaderError for a header it will not send.
   */
  request(method: string, path: string, headers: Readonly<Record<string, string>>, body: Buffer | string | undefined, handler: Http1Handler): Http1Request {
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.target.authority}\r\nconnection: keep-alive\r\n`;
    for (const k in headers) {
      const v = headers[k];
      if (!SENDABLE.has(k)) sendable(k);
      if (BAD_FIELD_VALUE_CHAR.test(v)) throw new InvalidRequestHeaderError(`header ${k} has an invalid value`);
      head += `${k}: ${v}\r\n`;
    }
    if (body !== undefined) head += `content-length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\n`;
    head += '\r\n';
    const req = new Http1Request(this, head, body, handler, method === 'HEAD');
    if (this.closed) {
      req.done = true;
      queueMicrotask(() => handler.onError(req, new UpstreamAbortedError('the upstream pool is closed')));
      return req;
    }
    this.assign(req);
    return req;
  }

  private assign(req: Http1Request): void {
    const now = Date.now();
    let c: Conn | undefined;
    while ((c = this.idle.pop()) !== undefined) {
      if (c.usable(now)) {
        c.send(req);
        return;
      }
      c.destroy();
    }
    if (this.conns.size < this.opts.connections) {
      new Conn(this).send(req);
      return;
    }
    this.queue.push(req);
  }

  /** A socket finished a response and may carry another. */
  release(c: Conn): void {
    const next = this.queue.shift();
    if (next !== undefined) c.send(next);
    else {
      this.idle.push(c);
      if (this.sweeper === null) this.sweeper = setInterval(this.sweep, Math.max(250, this.opts.keepAliveTimeout / 2)).unref();
    }
  }

  /** Close sockets idle for `keepAliveTimeout` or more; stop sweeping when none is left. */
  private readonly sweep = (): void => {
    const now = Date.now();
    for (const c of this.idle.filter((x) => x.expired(now))) c.destroy();
    if (this.conns.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  };

  /** A socket was opened (its constructor reports it). */
  opened(c: Conn): void {
    this.conns.add(c);
  }

  /** A socket closed: forget it, and open another for a waiting request. */
  removed(c: Conn): void {
    this.conns.delete(c);
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    if (!this.closed && this.queue.length > 0 && this.conns.size < this.opts.connections) new Conn(this).send(this.queue.shift()!);
  }

  dequeue(req: Http1Request): void {
    const i = this.queue.indexOf(req);
    if (i !== -1) this.queue.splice(i, 1);
  }

  /** Close every socket; requests in flight or waiting fail with UpstreamAbortedError. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    const err = new UpstreamAbortedError('the upstream pool is closed');
    for (const r of this.queue.splice(0)) {
      r.done = true;
      r.handler.onError(r, err);
    }
    for (const c of this.idle.splice(0)) c.destroy();
    for (const c of [...this.conns]) c.fail(err);
  }
}
