/**
 * One keep-alive pool per remote upstream for request/response traffic (the
 * lean HTTP/1.1 client of http1.ts, `connections` sockets), and an undici Pool
 * of its own for long-lived GET event streams. Connection failures become 502,
 * missing response headers within the server `timeout` become 504.
 *
 * Two ways to exchange: `request()` hands the body back as a Readable (event
 * streams, discovery, DELETE); `exchange()`, the MCP POST hot path, gathers a
 * JSON reply into one Buffer as it arrives (no body stream, async resource or
 * promise per reply), switching to a Readable only for event streams and
 * replies above its cap.
 */
import { type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { type RemoteServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';
import { Http1Pool, InvalidRequestHeaderError, UpstreamAbortedError, UpstreamProtocolError, UpstreamTimeoutError, type Http1Handler, type Http1Request } from './http1.js';

export interface UpstreamHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface HttpRequestOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path + query on the upstream origin; defaults to the server URL's. */
  path?: string;
  headers: Record<string, string>;
  body?: Buffer | string;
  /** Abort when the downstream goes away. */
  signal?: AbortSignal;
  /** Long-lived event streams: no body inactivity timeout. */
  stream?: boolean;
}

export interface ExchangeOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path + query on the upstream origin; defaults to the server URL's. */
  path?: string;
  headers: Record<string, string>;
  body?: Buffer | string;
  /** A JSON reply up to this many bytes arrives as one Buffer; 0: every body is a Readable (`request()`). */
  gather: number;
  /** A JSON reply above `gather`: `stream` hands the whole of it on as a Readable; `fail` aborts it (502: the gateway must see all of it). */
  overflow: 'stream' | 'fail';
  /** Abort when the downstream goes away. */
  signal?: AbortSignal;
}

export interface UpstreamExchange {
  status: number;
  headers: IncomingHttpHeaders;
  /** JSON (and empty) replies within the cap: a Buffer; anything else: a Readable of the body. */
  body: Buffer | Readable;
}

export class HttpUpstream {
  /** Request/response traffic: bounded keep-alive pool (`connections`). */
  readonly pool: Http1Pool;
  /**
   * Long-lived event streams (GET): their own unbounded pool, so open streams
   * can never take every connection and starve request/response traffic.
   */
  readonly streamPool: Pool;
  readonly origin: string;
  readonly path: string;
  /** Outcome of the last exchange, for status reporting. */
  lastOk: boolean | null = null;

  constructor(readonly def: RemoteServerDef) {
    const u = new URL(def.url);
    this.origin = u.origin;
    this.path = (u.pathname || '/') + u.search;
    this.pool = new Http1Pool(this.origin, {
      connections: def.connections,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(def.timeout, 10_000),
      timeout: def.timeout,
    });
    this.streamPool = new Pool(this.origin, {
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(def.timeout, 10_000),
      headersTimeout: def.timeout,
      bodyTimeout: 0,
    });
  }

  /**
   * One exchange. The server `timeout` bounds the wait for response headers
   * and, except for event streams, the gaps in the body. `signal` (a client gone) is passed
   * only where it matters, e.g. GET event streams: MCP treats a disconnect as
   * no cancellation, and a per-request AbortController is not free on the hot path.
   */
  async request(o: HttpRequestOptions): Promise<UpstreamHttpResponse> {
    if (!o.stream) return this.exchange({ method: o.method, path: o.path, headers: o.headers, body: o.body, gather: 0, overflow: 'stream', signal: o.signal }) as Promise<UpstreamHttpResponse>;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.streamPool.request({
        path: o.path ?? this.path,
        method: o.method,
        headers: o.body !== undefined ? { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) } : o.headers,
        body: o.body,
        signal: o.signal,
        headersTimeout: this.def.timeout,
        bodyTimeout: 0,
      });
    } catch (e) {
      throw this.mapError(e);
    }
    this.lastOk = true;
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** One request/response exchange on the bounded pool; see the file comment. Failures are mapped (502 / 504). */
  exchange(o: ExchangeOptions): Promise<UpstreamExchange> {
    return new Promise((resolve, reject) => {
      const handler = new ReplyHandler(o.gather, o.overflow, this, resolve, reject);
      let req: Http1Request;
      try {
        req = this.pool.request(o.method, o.path ?? this.path, o.headers, o.body, handler);
      } catch (e) {
        reject(this.mapError(e));
        return;
      }
      const signal = o.signal;
      if (signal) {
        if (signal.aborted) req.abort(new UpstreamAbortedError('aborted'));
        else {
          // Removed when the exchange ends, so a long-lived signal does not collect a listener per request.
          const onAbort = () => req.abort(new UpstreamAbortedError('aborted'));
          signal.addEventListener('abort', onAbort, { once: true });
          handler.detach = () => signal.removeEventListener('abort', onAbort);
        }
      }
    });
  }

  /** Map a transport failure onto the registry (502 / 504). */
  mapError(e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    if (e instanceof InvalidRequestHeaderError)
      return new GatewayError('upstream_unavailable', { detail: `The request to MCP server ${this.def.name} has a header that cannot be sent`, internal: e });
    if (e instanceof UpstreamProtocolError) {
      this.lastOk = false;
      return new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} sent an invalid response`, internal: e });
    }
    if ((e instanceof UpstreamTimeoutError && e.phase !== 'connect') || e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError) {
      this.lastOk = false;
      return new GatewayError('upstream_timeout', { detail: `MCP server ${this.def.name} did not answer in time`, internal: e });
    }
    if ((e as Error)?.name === 'AbortError' || e instanceof undiciErrors.RequestAbortedError || e instanceof UpstreamAbortedError)
      return new GatewayError('upstream_unavailable', { detail: 'The request was aborted', internal: e });
    this.lastOk = false;
    return new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} is unreachable`, internal: e });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.streamPool.destroy()]);
  }
}

const JSON_RE = /application\/json/i;

/**
 * The response handler of `exchange()`: settles once with the reply, either
 * gathered (JSON within the cap) or as a Readable fed with backpressure
 * (the request's pause/resume); destroying that Readable aborts the request.
 */
class ReplyHandler implements Http1Handler {
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private stream: Readable | null = null;
  private settled = false;
  private ended = false;
  /** Set when the exchange listens to an abort signal: stops listening once the response has ended or failed. */
  detach: (() => void) | null = null;

  constructor(
    private readonly cap: number,
    private readonly overflow: 'stream' | 'fail',
    /** Settled through the upstream and the promise's own functions: no closures per exchange. */
    private readonly upstream: HttpUpstream,
    private readonly resolve: (r: UpstreamExchange) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  onHead(req: Http1Request, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
    const ct = headers['content-type'];
    if (this.cap === 0 || (ct !== undefined && !JSON_RE.test(String(ct)))) this.toStream(req);
  }

  onData(req: Http1Request, chunk: Buffer): void {
    if (this.stream) {
      if (!this.stream.push(chunk)) req.pause();
      return;
    }
    this.size += chunk.length;
    this.chunks.push(chunk);
    if (this.size <= this.cap) return;
    if (this.overflow === 'fail') {
      this.chunks = [];
      req.abort(new GatewayError('upstream_unavailable', { detail: 'The upstream response is too large' }));
      return;
    }
    this.toStream(req);
  }

  onEnd(): void {
    this.ended = true;
    this.detach?.();
    if (this.stream) {
      this.stream.push(null);
      return;
    }
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.settle({ status: this.status, headers: this.headers, body });
  }

  onError(_req: Http1Request, err: Error): void {
    this.ended = true;
    this.detach?.();
    if (!this.settled) {
      this.settled = true;
      this.reject(this.upstream.mapError(err));
      return;
    }
    this.stream?.destroy(err);
  }

  private settle(r: UpstreamExchange): void {
    if (this.settled) return;
    this.settled = true;
    this.upstream.lastOk = true;
    this.resolve(r);
  }

  private toStream(req: Http1Request): void {
    const s = new Readable({
      read: () => req.resume(),
      destroy: (err, cb) => {
        if (!this.ended) {
          this.ended = true;
          req.abort(err ?? new UpstreamAbortedError('aborted'));
        }
        cb(err);
      },
    });
    for (const chunk of this.chunks) s.push(chunk);
    this.chunks = [];
    this.stream = s;
    this.settle({ status: this.status, headers: this.headers, body: s });
  }
}

/** Read a (bounded) body fully; used only for JSON responses the gateway must rewrite. */
export async function readBody(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > limit) {
      body.destroy();
      throw new GatewayError('upstream_unavailable', { detail: 'The upstream response is too large' });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
