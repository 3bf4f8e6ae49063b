/**
 * The HTTP client of one remote upstream, on undici: a bounded keep-alive
 * `Pool` (`connections` sockets, one request at a time on each) for
 * request/response traffic, and a `Pool` of its own for long-lived GET event
 * streams, so open streams can never take every connection and starve
 * request/response traffic. Connection failures become 502
 * `upstream_unavailable`; no response headers within the server `timeout`
 * (or a body that goes quiet that long) become 504 `upstream_timeout`.
 *
 * `exchange()` drives the request/response pool through undici's `dispatch`
 * API with a small handler: a JSON reply is gathered into one Buffer as it
 * arrives (up to a cap), anything else (event streams, replies above the cap
 * when asked to stream them) is handed on as a Readable fed with
 * backpressure; destroying that Readable aborts the request. `request()`
 * gives every body as a Readable.
 */
import { type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { type RemoteServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';

export interface UpstreamHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
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
  /** Long-lived event streams (the stream pool): no body inactivity timeout. */
  stream?: boolean;
}

export interface ExchangeOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path + query on the upstream origin; defaults to the server URL's. */
  path?: string;
  headers: Record<string, string>;
  body?: Buffer | string;
  /** A JSON reply up to this many bytes arrives as one Buffer; 0: every body is a Readable. */
  gather: number;
  /** A JSON reply above `gather`: `stream` hands the whole of it on as a Readable; `fail` aborts it (502). */
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
  readonly pool: Pool;
  /** Long-lived event streams (GET): unbounded, no body timeout. */
  readonly streamPool: Pool;
  readonly origin: string;
  readonly path: string;
  /** Outcome of the last exchange, for status reporting. */
  lastOk: boolean | null = null;

  constructor(readonly def: RemoteServerDef) {
    const u = new URL(def.url);
    this.origin = u.origin;
    this.path = (u.pathname || '/') + u.search;
    const connectTimeout = Math.min(def.timeout, 10_000);
    this.pool = new Pool(this.origin, {
      connections: def.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout,
      headersTimeout: def.timeout,
      bodyTimeout: def.timeout,
    });
    this.streamPool = new Pool(this.origin, { connections: null, pipelining: 1, keepAliveTimeout: 30_000, connectTimeout, headersTimeout: def.timeout, bodyTimeout: 0 });
  }

  /** One exchange whose body is always a Readable (event streams on the stream pool, discovery, DELETE). */
  async request(o: HttpRequestOptions): Promise<UpstreamHttpResponse> {
    if (!o.stream) return this.exchange({ method: o.method, path: o.path, headers: o.headers, body: o.body, gather: 0, overflow: 'stream', signal: o.signal }) as Promise<UpstreamHttpResponse>;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.streamPool.request({ path: o.path ?? this.path, method: o.method, headers: o.headers, body: o.body, signal: o.signal });
    } catch (e) {
      throw this.mapError(e);
    }
    this.lastOk = true;
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** One request/response exchange on the bounded pool; see the file comment. Failures are mapped (502 / 504). */
  exchange(o: ExchangeOptions): Promise<UpstreamExchange> {
    return new Promise((resolve, reject) => {
      const handler = new ReplyHandler(o.gather, o.overflow, this, resolve, reject, o.signal);
      this.pool.dispatch({ path: o.path ?? this.path, method: o.method, headers: o.headers, body: o.body }, handler);
    });
  }

  /** Map a transport failure onto the registry (502 / 504). */
  mapError(e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    if (e instanceof undiciErrors.RequestAbortedError || (e as Error)?.name === 'AbortError')
      return new GatewayError('upstream_unavailable', { detail: 'The request was aborted', internal: e });
    if (e instanceof undiciErrors.InvalidArgumentError)
      return new GatewayError('upstream_unavailable', { detail: `The request to MCP server ${this.def.name} has a header that cannot be sent`, internal: e });
    this.lastOk = false;
    if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError)
      return new GatewayError('upstream_timeout', { detail: `MCP server ${this.def.name} did not answer in time`, internal: e });
    if (e instanceof undiciErrors.HTTPParserError || e instanceof undiciErrors.ResponseContentLengthMismatchError)
      return new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} sent an invalid response`, internal: e });
    return new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} is unreachable`, internal: e });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.streamPool.destroy()]);
  }
}

const JSON_RE = /^\s*application\/json\s*(;|$)/i;

/**
 * The dispatch handler of `exchange()`: settles once with the reply, either
 * gathered (JSON within the cap, or no body) or as a Readable fed with
 * backpressure (the controller's pause/resume).
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
  private abortReason: Error | null = null;
  private detach: (() => void) | null = null;

  constructor(
    private readonly cap: number,
    private readonly overflow: 'stream' | 'fail',
    private readonly upstream: HttpUpstream,
    private readonly resolve: (r: UpstreamExchange) => void,
    private readonly reject: (e: unknown) => void,
    signal: AbortSignal | undefined,
  ) {
    if (!signal) return;
    if (signal.aborted) this.abortReason = new undiciErrors.RequestAbortedError();
    else {
      // Removed when the exchange ends, so a long-lived signal does not collect a listener per request.
      const onAbort = () => this.abort(new undiciErrors.RequestAbortedError());
      signal.addEventListener('abort', onAbort, { once: true });
      this.detach = () => signal.removeEventListener('abort', onAbort);
    }
  }

  private abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // informational (103 Early Hints): the response is still to come
    this.status = status;
    this.headers = headers;
    const ct = headers['content-type'];
    if (this.cap === 0 || (ct !== undefined && !JSON_RE.test(String(ct)))) this.toStream(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream) {
      if (!this.stream.push(chunk)) controller.pause();
      return;
    }
    this.size += chunk.length;
    this.chunks.push(chunk);
    if (this.size <= this.cap) return;
    if (this.overflow === 'fail') {
      this.chunks = [];
      controller.abort(new GatewayError('upstream_unavailable', { detail: 'The upstream response is too large' }));
      return;
    }
    this.toStream(controller);
  }

  onResponseEnd(): void {
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

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
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

  private toStream(controller: Dispatcher.DispatchController): void {
    const s = new Readable({
      read: () => controller.resume(),
      destroy: (err, cb) => {
        if (!this.ended) {
          this.ended = true;
          controller.abort(err ?? new undiciErrors.RequestAbortedError());
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

/** Read a (bounded) body fully. */
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
