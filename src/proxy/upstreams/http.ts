/**
 * One undici Pool per remote upstream (keep-alive, `connections` sockets).
 * Bodies stream: the response body is handed back as a Readable and never
 * buffered here. Connection failures become 502, missing response headers
 * within the server `timeout` become 504.
 */
import { type Readable } from 'node:stream';
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
