/**
 * A lean HTTP/1.1 layer in front of node:http for the MCP hot path.
 *
 * node:http builds a request stream, a response stream, a parser binding and
 * timers for every request; for a small POST answered with a small JSON body
 * that is most of a hop's cost (docs/performance-history.md, "Thirteenth round").
 * This layer takes each accepted connection first and reads it itself:
 *
 *   - a head of the narrow shape head.ts accepts (POST|DELETE /mcp/{server},
 *     one Content-Length, ...) is served here: its body is read (bounded by
 *     that Content-Length, itself within the body limit), the MCP handler is
 *     called with a LeanRequest and a LeanResponse, and the reply is written
 *     straight to the socket (one write for a JSON body, chunked framing for
 *     a streamed one);
 *   - anything else, at the first request or any later one on the same
 *     connection, hands the connection to node:http with every byte read but
 *     not consumed (`unshift`, then node:http's own connection listener). From
 *     then on node:http owns it, and serves or refuses exactly as it would
 *     have without this layer.
 *
 * One request at a time per connection: bytes that arrive while a request is
 * being served (pipelining) wait, the socket paused, until its response is
 * written. The connection closes after a response when the client asked
 * (`Connection: close`), the response says so, or the server has stopped
 * listening. A head or body not complete within `server.headersTimeout` is
 * answered 408 and the connection closed (for a new connection, counted
 * from its start); a connection idle between requests for
 * `server.keepAliveTimeout` is closed. A connection closing (after a last
 * response or a 408) reads nothing more and is destroyed if it has not
 * closed within 5 s (or the headers timeout, if shorter). All three are
 * checked by one sweep over the lean connections (no timer per request). `closeIdleConnections()` and
 * `closeAllConnections()` on the server also close lean connections, so the
 * drain (cluster/lifecycle.ts) treats them like node:http's.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import { type Socket } from 'node:net';
import { couldBeLean, HANDOFF, INCOMPLETE, MAX_HEAD, MAX_HEADERS, parseRequestHead, type LeanHead } from './head.js';
import { BAD_FIELD_VALUE_CHAR, HTTP_TOKEN } from '../../lib/http-syntax.js';

/** Emitted on the node server with each LeanResponse as its request starts (lifecycle in-flight tracking). */
export const LEAN_REQUEST_EVENT = 'portcullis:lean-request';

/** The handler for a lean request; false: not claimed (the connection then goes to node:http). */
export type LeanHandler = (req: LeanRequest, res: LeanResponse) => boolean;

export interface LeanOptions {
  /** The handler; null hands every connection to node:http (routes not built yet). */
  handler: () => LeanHandler | null;
  bodyLimit: number;
}

export interface LeanStats {
  /** Requests served by this layer. */
  served: number;
  /** Connections given to node:http. */
  handedOff: number;
}

/** One request served by the lean layer: the fields of IncomingMessage the MCP handler reads, and the whole body. */
export class LeanRequest {
  constructor(
    readonly method: 'POST' | 'DELETE',
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
    readonly socket: Socket,
    readonly body: Buffer,
  ) {}
}

const enum State {
  /** Waiting for (the rest of) a head; `pending` and `parts` hold what has arrived. */
  Head,
  /** Reading a body of known length. */
  Body,
  /** A request is being served; later bytes wait in `queued`. */
  Busy,
  /** Closing: a last response or a 408 is being flushed; bytes from the client are ignored. */
  Closing,
  /** Closed, or given to node:http. */
  Gone,
}

/** A closing connection whose last bytes the client does not read is destroyed after this long (or the headers timeout, if shorter). */
const CLOSE_GRACE_MS = 5_000;

const EMPTY = Buffer.alloc(0);
const TIMEOUT_408 = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

let dateSecond = -1;
let dateValue = '';
/** The Date header value, formatted once per second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/**
 * The response to one lean request: the part of ServerResponse the MCP
 * handler uses (writeHead, write, end, flushHeaders, destroy, 'close' and
 * 'drain'). Framing is its own: Content-Length when the handler gives one or
 * the whole body comes with end(), chunked when a body is written in parts.
 */
export class LeanResponse extends EventEmitter {
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  closed = false;
  private status = 200;
  private headers: OutgoingHttpHeaders | null = null;
  private chunked = false;

  constructor(private readonly conn: LeanConnection) {
    super();
  }

  writeHead(status: number, headers?: OutgoingHttpHeaders): this {
    if (this.headersSent) throw new Error('writeHead after the head was sent');
    this.status = status;
    this.headers = headers ?? null;
    return this;
  }

  /** Send the head now; the body follows in chunks. */
  flushHeaders(): void {
    if (!this.headersSent) this.sendHead(null, -1);
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableFinished || this.destroyed) return false;
    if (!this.headersSent) this.sendHead(null, -1);
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (b.length === 0) return true;
    const s = this.conn.socket;
    if (!this.chunked) return s.write(b);
    s.cork();
    s.write(`${b.length.toString(16)}\r\n`, 'latin1');
    s.write(b);
    const ok = s.write('\r\n', 'latin1');
    s.uncork();
    return ok;
  }

  end(body?: Buffer | string): this {
    if (this.writableFinished || this.destroyed) return this;
    const b = body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body;
    if (!this.headersSent) this.sendHead(b, b === null ? 0 : b.length);
    else {
      if (b !== null && b.length > 0) this.write(b);
      if (this.chunked) this.conn.socket.write('0\r\n\r\n', 'latin1');
    }
    // Handed to the socket whole: ended and finished at once.
    this.writableEnded = true;
    this.writableFinished = true;
    this.conn.finished(this);
    return this;
  }

  destroy(): this {
    if (!this.destroyed) this.conn.destroy();
    return this;
  }

  /** The connection went away (or the response finished): 'close', once. */
  markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.writableFinished) this.destroyed = true;
    this.emit('close');
  }

  /**
   * Write the status line and headers, with `body` in the same write when it
   * is the whole body. `length` -1: the length is unknown (chunked unless
   * the handler gave a Content-Length).
   */
  private sendHead(body: Buffer | null, length: number): void {
    const conn = this.conn;
    let head = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? 'Unknown'}\r\n`;
    let declared = -1;
    const h = this.headers;
    if (h !== null) {
      for (const name in h) {
        const v = h[name];
        if (v === undefined) continue;
        if (!HTTP_TOKEN.test(name)) throw new TypeError(`Invalid response header name "${name}"`);
        const lower = name.toLowerCase();
        if (lower === 'content-length') {
          declared = Number(v);
          if (!Number.isSafeInteger(declared) || declared < 0) throw new TypeError('Invalid Content-Length');
        } else if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'date') {
          // The framing and the connection's headers are this layer's.
          throw new TypeError(`The lean layer sets ${name} itself`);
        } else if (lower === 'connection') {
          if (String(v).toLowerCase() === 'close') conn.closeAfter = true;
          continue;
        }
        if (Array.isArray(v)) {
          for (const one of v) head += headerLine(name, one);
        } else head += headerLine(name, String(v));
      }
    }
    const noBody = this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200);
    if (!noBody) {
      if (declared === -1 && length !== -1) head += `Content-Length: ${length}\r\n`;
      else if (declared === -1) this.chunked = true;
    }
    if (!conn.server.listening) conn.closeAfter = true;
    head += `Date: ${httpDate()}\r\n`;
    head += conn.closeAfter ? 'Connection: close\r\n' : conn.keepAliveHeader;
    if (this.chunked) head += 'Transfer-Encoding: chunked\r\n';
    head += '\r\n';
    this.headersSent = true;
    const s = conn.socket;
    if (body === null || body.length === 0 || noBody) {
      s.write(head, 'latin1');
      return;
    }
    if (body.length <= 4096) {
      // One buffer, one write: the head and a small body in the same packet.
      const headBytes = Buffer.byteLength(head, 'latin1');
      const out = Buffer.allocUnsafe(headBytes + body.length);
      out.write(head, 0, headBytes, 'latin1');
      body.copy(out, headBytes);
      s.write(out);
      return;
    }
    s.cork();
    s.write(head, 'latin1');
    s.write(body);
    s.uncork();
  }
}

function headerLine(name: string, value: string): string {
  if (BAD_FIELD_VALUE_CHAR.test(value)) throw new TypeError(`Invalid character in response header "${name}"`);
  return `${name}: ${value}\r\n`;
}

/** One accepted connection while the lean layer owns it. */
class LeanConnection {
  state = State.Head;
  /** Bytes received and not yet consumed, contiguous. */
  pending: Buffer = EMPTY;
  /**
   * Bytes of an unfinished head that arrived after `pending`, not yet joined:
   * they are joined (and the head parsed again) only when a chunk brings an
   * LF, the only byte that can complete a head, so a head trickled in small
   * chunks costs linear time, not a copy and a scan per chunk.
   */
  private parts: Buffer[] = [];
  private partsSize = 0;
  /** Chunks with an LF that did not complete the head (bounded by MAX_HEADERS). */
  private lfChunks = 0;
  /** When the current head started arriving, when the connection went idle, or when it began closing (ms). */
  since = Date.now();
  /** Whether anything of the current head has arrived (false: idle between requests). */
  started = false;
  /** No request has been served yet: until the first head starts, the headers timeout runs from the connection's start (as node:http's does). */
  private fresh = true;
  closeAfter = false;
  private head: LeanHead | null = null;
  private bodyParts: Buffer[] = [];
  private bodySize = 0;
  private res: LeanResponse | null = null;
  /** Bytes that arrived while Busy (joined to `pending` once the response is done). */
  private queued: Buffer[] = [];
  /** The socket was paused because bytes arrived while Busy. */
  private paused = false;
  /** Inside the handler call: a response finished synchronously is picked up by the loop in next(), not by recursion. */
  private inHandler = false;

  readonly onData = (chunk: Buffer) => this.data(chunk);
  readonly onDrain = () => this.res?.emit('drain');
  readonly onEnd = () => this.clientEnded();
  readonly onClose = () => this.gone();
  readonly onError = () => this.destroy();

  constructor(
    readonly layer: LeanLayer,
    readonly server: Server,
    readonly socket: Socket,
    readonly keepAliveHeader: string,
  ) {}

  private data(chunk: Buffer): void {
    switch (this.state) {
      case State.Body:
        this.bodyPart(chunk);
        return;
      case State.Busy:
        // Pipelined bytes wait for the response; stop reading until then.
        this.queued.push(chunk);
        if (!this.paused) {
          this.paused = true;
          this.socket.pause();
        }
        return;
      case State.Head:
        this.headPart(chunk);
        return;
      default:
        // Closing: nothing more is read from this client.
        this.socket.pause();
    }
  }

  private headPart(chunk: Buffer): void {
    if (!this.started) {
      this.started = true;
      this.since = Date.now();
    }
    if (this.pending.length === 0) {
      this.pending = chunk;
      // Another method or path (a GET, a TLS handshake on the plain port): node:http's at once.
      if (!couldBeLean(chunk)) {
        this.handOff();
        return;
      }
    } else {
      this.parts.push(chunk);
      this.partsSize += chunk.length;
    }
    // Without an LF nothing can complete a head.
    const total = this.pending.length + this.partsSize;
    if (chunk.indexOf(0x0a) === -1) {
      if (total < MAX_HEAD) return;
    } else if (++this.lfChunks > MAX_HEADERS + 2) {
      // A head spread over more chunks with line ends than it may have lines: node:http (whose parser is incremental) decides.
      this.pending = Buffer.concat([this.pending, ...this.parts], total);
      this.parts = [];
      this.partsSize = 0;
      this.handOff();
      return;
    }
    if (this.parts.length > 0) {
      this.pending = Buffer.concat([this.pending, ...this.parts], total);
      this.parts = [];
      this.partsSize = 0;
    }
    this.next();
  }

  /** Parse what is pending: serve (as long as responses finish at once), wait for more, or hand off. */
  private next(): void {
    while (this.state === State.Head && this.pending.length > 0) {
      if (!this.started) {
        this.started = true;
        this.since = Date.now();
      }
      const handler = this.layer.opts.handler();
      const r = handler === null ? HANDOFF : parseRequestHead(this.pending, this.layer.opts.bodyLimit);
      if (r === INCOMPLETE) return;
      if (r === HANDOFF) {
        this.handOff();
        return;
      }
      this.lfChunks = 0;
      const rest = this.pending.length - r.headLength;
      if (rest >= r.contentLength) {
        const body = this.pending.subarray(r.headLength, r.headLength + r.contentLength);
        this.pending = rest === r.contentLength ? EMPTY : this.pending.subarray(r.headLength + r.contentLength);
        this.serve(handler!, r, body);
        continue;
      }
      this.head = r;
      this.state = State.Body;
      this.bodyParts = rest > 0 ? [this.pending.subarray(r.headLength)] : [];
      this.bodySize = rest;
      this.pending = EMPTY;
      return;
    }
    if (this.state === State.Head && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private bodyPart(chunk: Buffer): void {
    const head = this.head!;
    const need = head.contentLength - this.bodySize;
    if (chunk.length < need) {
      this.bodyParts.push(chunk);
      this.bodySize += chunk.length;
      return;
    }
    this.bodyParts.push(need === chunk.length ? chunk : chunk.subarray(0, need));
    this.pending = need === chunk.length ? EMPTY : chunk.subarray(need);
    const body = this.bodyParts.length === 1 ? this.bodyParts[0] : Buffer.concat(this.bodyParts, head.contentLength);
    this.head = null;
    this.bodyParts = [];
    this.bodySize = 0;
    this.state = State.Head;
    const handler = this.layer.opts.handler();
    if (handler === null) {
      // The routes went away between head and body (not expected): node:http gets the request whole.
      this.pending = Buffer.concat([rawHead(head), body, this.pending]);
      this.handOff();
      return;
    }
    this.serve(handler, head, body);
    this.next();
  }

  private serve(handler: LeanHandler, head: LeanHead, body: Buffer): void {
    this.state = State.Busy;
    this.fresh = false;
    if (head.close) this.closeAfter = true;
    const req = new LeanRequest(head.method, head.url, head.headers, head.rawHeaders, this.socket, body);
    const res = (this.res = new LeanResponse(this));
    this.server.emit(LEAN_REQUEST_EVENT, res);
    this.layer.stats.served++;
    this.inHandler = true;
    let claimed: boolean;
    try {
      claimed = handler(req, res);
    } finally {
      this.inHandler = false;
    }
    if (claimed) return;
    // Not claimed: node:http serves it, from this request's own bytes on.
    this.layer.stats.served--;
    this.res = null;
    res.markClosed();
    this.pending = Buffer.concat([rawHead(head), body, this.pending]);
    this.state = State.Head;
    this.handOff();
  }

  /** The response was written whole: close, or go on with the next request. */
  finished(res: LeanResponse): void {
    if (this.res !== res) return;
    this.res = null;
    res.markClosed();
    if (this.state !== State.Busy) return;
    if (this.closeAfter) {
      // As node:http does after a last response: end, and destroy once the write is flushed.
      this.closing();
      return;
    }
    this.state = State.Head;
    this.started = false;
    this.since = Date.now();
    if (this.queued.length > 0) {
      this.pending = Buffer.concat([this.pending, ...this.queued]);
      this.queued = [];
    }
    if (!this.inHandler) this.next();
  }

  /** End the connection once what was written is flushed; the sweep destroys it if that takes longer than CLOSE_GRACE_MS. */
  private closing(): void {
    this.state = State.Closing;
    this.since = Date.now();
    this.pending = EMPTY;
    this.parts = [];
    this.queued = [];
    this.bodyParts = [];
    this.socket.destroySoon();
  }

  /**
   * The client sent FIN. As node:http does (httpAllowHalfOpen false): what
   * was written is flushed and the connection ended, and a request in
   * progress is aborted. A connection already closing is left to finish.
   */
  private clientEnded(): void {
    if (this.state === State.Closing || this.state === State.Gone) return;
    const res = this.res;
    this.res = null;
    this.closing();
    res?.markClosed();
  }

  /** Close at once; an unfinished response sees 'close' and aborts. */
  destroy(): void {
    this.socket.destroy();
    this.gone();
  }

  /** The socket closed: forget it, and tell a response in progress. */
  gone(): void {
    if (this.state === State.Gone) return;
    this.state = State.Gone;
    this.layer.forget(this);
    const res = this.res;
    if (res !== null) {
      this.res = null;
      res.markClosed();
    }
  }

  /** Between requests with nothing received: may be closed by closeIdleConnections(). */
  get idle(): boolean {
    return this.state === State.Head && !this.started && this.pending.length === 0;
  }

  /** Timeouts, from the layer's sweep. */
  check(now: number): void {
    if (this.state === State.Head && !this.started && !this.fresh) {
      if (this.server.keepAliveTimeout > 0 && now - this.since >= this.server.keepAliveTimeout) this.destroy();
    } else if (this.state === State.Head || this.state === State.Body) {
      if (this.server.headersTimeout > 0 && now - this.since >= this.server.headersTimeout) {
        this.socket.write(TIMEOUT_408, 'latin1');
        this.closing();
      }
    } else if (this.state === State.Closing) {
      if (now - this.since >= Math.min(CLOSE_GRACE_MS, this.server.headersTimeout || CLOSE_GRACE_MS)) this.destroy();
    }
  }

  /** Give the connection, and every byte not consumed, to node:http. */
  private handOff(): void {
    this.state = State.Gone;
    this.layer.forget(this);
    const s = this.socket;
    s.off('data', this.onData);
    s.off('drain', this.onDrain);
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    this.layer.stats.handedOff++;
    const bytes = this.parts.length > 0 ? Buffer.concat([this.pending, ...this.parts]) : this.pending;
    this.pending = EMPTY;
    this.parts = [];
    if (bytes.length > 0) {
      if (s.readableEnded) {
        // The client half-closed and its last bytes were already read: they cannot be put back.
        s.destroy();
        return;
      }
      s.unshift(bytes);
    }
    this.layer.nodeListener.call(this.server, s);
    if (this.paused) {
      this.paused = false;
      s.resume();
    }
  }
}

/** The head of a parsed request, re-serialized (for the rare hand-off after a head was consumed). */
function rawHead(h: LeanHead): Buffer {
  let s = `${h.method} ${h.url} HTTP/1.1\r\n`;
  for (let i = 0; i < h.rawHeaders.length; i += 2) s += `${h.rawHeaders[i]}: ${h.rawHeaders[i + 1]}\r\n`;
  return Buffer.from(s + '\r\n', 'latin1');
}

/** The lean layer of one node server. */
export class LeanLayer {
  readonly stats: LeanStats = { served: 0, handedOff: 0 };
  private readonly conns = new Set<LeanConnection>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(
    readonly server: Server,
    readonly opts: LeanOptions,
    readonly nodeListener: (this: Server, socket: Socket) => void,
  ) {}

  accept(socket: Socket): void {
    const server = this.server;
    const ka = server.keepAliveTimeout > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}\r\n` : 'Connection: keep-alive\r\n';
    const c = new LeanConnection(this, server, socket, ka);
    this.conns.add(c);
    socket.on('data', c.onData);
    socket.on('drain', c.onDrain);
    socket.on('end', c.onEnd);
    socket.on('close', c.onClose);
    socket.on('error', c.onError);
    if (this.sweep === null) this.startSweep();
  }

  forget(c: LeanConnection): void {
    this.conns.delete(c);
    if (this.conns.size === 0 && this.sweep !== null) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  get connections(): number {
    return this.conns.size;
  }

  closeIdle(): void {
    for (const c of [...this.conns]) if (c.idle) c.destroy();
  }

  closeAll(): void {
    for (const c of [...this.conns]) c.destroy();
  }

  private startSweep(): void {
    const s = this.server;
    const every = Math.max(50, Math.min(1000, (s.headersTimeout || 60_000) / 4, (s.keepAliveTimeout || 60_000) / 4));
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const c of [...this.conns]) c.check(now);
    }, every);
    this.sweep.unref();
  }
}

const LAYER = Symbol('portcullis.lean');

/**
 * Put the lean layer in front of `server` (http.Server or https.Server, not
 * yet listening): it takes node:http's connection listener and calls it only
 * for the connections it hands off.
 */
export function installLean(server: Server, opts: LeanOptions): LeanLayer {
  // https.Server serves HTTP on 'secureConnection' (after the handshake), http.Server on 'connection'.
  const event = server.listeners('secureConnection').length > 0 ? 'secureConnection' : 'connection';
  const listeners = server.listeners(event);
  if (listeners.length !== 1) throw new Error(`expected node:http's one ${event} listener, found ${listeners.length}`);
  const nodeListener = listeners[0] as (this: Server, socket: Socket) => void;
  const layer = new LeanLayer(server, opts, nodeListener);
  server.removeListener(event, nodeListener);
  server.on(event, (socket: Socket) => layer.accept(socket));
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    layer.closeIdle();
  };
  server.closeAllConnections = () => {
    closeAll();
    layer.closeAll();
  };
  (server as Server & { [LAYER]?: LeanLayer })[LAYER] = layer;
  return layer;
}

/** The lean layer installed on a server, if any (tests and metrics read its stats). */
export function leanLayerOf(server: object): LeanLayer | undefined {
  return (server as { [LAYER]?: LeanLayer })[LAYER];
}
