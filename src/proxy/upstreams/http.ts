/**
 * One undici Pool per remote upstream (keep-alive, `connections` sockets).
 * Connection failures become 502, missing response headers within the server
 * `timeout` become 504.
 *
 * Two ways to exchange: `request()` hands the body back as a Readable (event
 * streams, discovery); `exchange()`, the MCP POST hot path, drives undici's
 * dispatch handler API directly and gathers a JSON reply into one Buffer as it
 * arrives (no body stream, async resource or promise per reply), switching to a
 * Readable only for event streams and replies above its cap.
 */
import { type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { type RemoteServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';

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
  method: 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: Buffer | string;
  /** A JSON reply up to this many bytes arrives as one Buffer. */
  gather: number;
  /** A JSON reply above `gather`: `stream` hands the whole of it on as a Readable; `fail` aborts it (502: the gateway must see all of it). */
  overflow: 'stream' | 'fail';
}

export interface UpstreamExchange {
  status: number;
  headers: IncomingHttpHeaders;
  /** JSON (and empty) replies within the cap: a Buffer; anything else: a Readable of the body. */
  body: Buffer | Readable;
}

export class HttpUpstream {
  /** Request/response traffic: bounded keep-alive pool (`connections`). */
  readonly pool: Pool;
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
    this.pool = new Pool(this.origin, {
      connections: def.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(def.timeout, 10_000),
      headersTimeout: def.timeout,
      bodyTimeout: def.timeout,
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
   * (undici's headersTimeout: precise below 1 s, ±0.5 s above) and, except for
   * event streams, the gaps in the body. `signal` (a client gone) is passed
   * only where it matters, e.g. GET event streams: MCP treats a disconnect as
   * no cancellation, and a per-request AbortController is not free on the hot path.
   */
  async request(o: HttpRequestOptions): Promise<UpstreamHttpResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await (o.stream ? this.streamPool : this.pool).request({
        path: o.path ?? this.path,
        method: o.method,
        headers: o.body !== undefined ? { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) } : o.headers,
        body: o.body,
        signal: o.signal,
        headersTimeout: this.def.timeout,
        bodyTimeout: o.stream ? 0 : this.def.timeout,
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
      // undici adds content-length for Buffer and string bodies.
      this.pool.dispatch(
        { path: this.path, method: o.method, headers: o.headers, body: o.body, headersTimeout: this.def.timeout, bodyTimeout: this.def.timeout },
        new ReplyHandler(o.gather, o.overflow, this, resolve, reject),
      );
    });
  }

  /** Map a transport failure onto the registry (502 / 504). */
  mapError(e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError) {
      this.lastOk = false;
      return new GatewayError('upstream_timeout', { detail: `MCP server ${this.def.name} did not answer in time`, internal: e });
    }
    if ((e as Error)?.name === 'AbortError' || e instanceof undiciErrors.RequestAbortedError)
      return new GatewayError('upstream_unavailable', { detail: 'The request was aborted', internal: e });
    this.lastOk = false;
    return new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} is unreachable`, internal: e });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.streamPool.destroy()]);
  }
}

const JSON_RE = /application\/json/i;

/**
 * undici dispatch handler for `exchange()`: settles once with the reply,
 * either gathered (JSON within the cap) or as a Readable fed with backpressure
 * (controller pause/resume); destroying that Readable aborts the upstream request.
 */
class ReplyHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private stream: Readable | null = null;
  private settled = false;
  private ended = false;

  constructor(
    private readonly cap: number,
    private readonly overflow: 'stream' | 'fail',
    /** Settled through the upstream and the promise's own functions: no closures per exchange. */
    private readonly upstream: HttpUpstream,
    private readonly resolve: (r: UpstreamExchange) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // 1xx informational: the final head follows
    this.status = status;
    this.headers = headers;
    const ct = headers['content-type'];
    if (ct !== undefined && !JSON_RE.test(String(ct))) this.toStream();
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream) {
      if (!this.stream.push(chunk)) c.pause();
      return;
    }
    this.size += chunk.length;
    this.chunks.push(chunk);
    if (this.size <= this.cap) return;
    if (this.overflow === 'fail') {
      this.chunks = [];
      c.abort(new GatewayError('upstream_unavailable', { detail: 'The upstream response is too large' }));
      return;
    }
    this.toStream();
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.stream) {
      this.stream.push(null);
      return;
    }
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.settle({ status: this.status, headers: this.headers, body });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.ended = true;
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

  private toStream(): void {
    const c = this.controller!;
    const s = new Readable({
      read: () => c.resume(),
      destroy: (err, cb) => {
        if (!this.ended) {
          this.ended = true;
          c.abort(err ?? new undiciErrors.RequestAbortedError());
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
