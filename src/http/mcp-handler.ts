/**
 * The MCP hot path: POST|GET|DELETE /mcp/{server} served by a lean node:http
 * handler, outside fastify (no router, hooks, reply objects or per-request
 * child loggers; one write per JSON response).
 *
 *   shutting down? → client IP + per-IP/global limits → Origin → authenticate
 *   (before the body is read) → per-token/user/group limits → read the body
 *   (bounded) → McpProxy (parse once, authorize each message, forward, relay)
 *
 * Every refusal is a JSON-RPC error body (MCP clients expect one), with the
 * same statuses, codes, challenges, audit events and metrics as elsewhere.
 */
import { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { type Authenticator } from '../auth/authenticate.js';
import { type Principal } from '../auth/principal.js';
import { type AuditSink } from '../audit/types.js';
import { SERVER_NAME_RE } from '../config/schema.js';
import { GatewayError, toGatewayError, toJsonRpc } from '../errors/index.js';
import { type Metrics } from '../metrics/index.js';
import { MAX_GATHERED_REPLY, type McpProxy, type ProxyRequest, type ProxyResponse } from '../proxy/mcp-proxy.js';
import { rateLimitHeaders, tighter, type RateLimits, type RateState } from '../ratelimit/index.js';
import { type ClientIpResolver } from './client-ip.js';
import { type Logger } from '../lib/logger.js';
import { LeanRequest } from './lean/server.js';
import { credentialInputRaw } from './middleware/authenticate.js';

export interface McpHandlerDeps {
  proxy: McpProxy;
  auth: Authenticator;
  audit: AuditSink;
  metrics: Metrics;
  logger: Logger;
  limits: RateLimits;
  clientIp: ClientIpResolver;
  bodyLimit: number;
  originOk: (origin: string | undefined) => boolean;
  isServer: (name: string) => boolean;
  resourceMetadataUrl: (server: string) => string;
  shuttingDown: () => boolean;
}

const JSON_CT = 'application/json';

/**
 * What the handler reads of a request: node:http's IncomingMessage, or a
 * LeanRequest from the lean layer (http/lean/server.ts), which carries the
 * whole body already read.
 */
export interface McpRequest {
  readonly method?: string;
  readonly url?: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: Socket;
}

/** What the handler uses of a response: node:http's ServerResponse, or a LeanResponse. */
export interface McpResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly writableFinished: boolean;
  readonly writableEnded: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  flushHeaders(): void;
  write(chunk: Buffer): boolean;
  end(body?: Buffer | string): unknown;
  destroy(): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

export type McpHttpHandler = (req: McpRequest, res: McpResponse) => boolean;

/** `/mcp/{server}` (optionally with a query) → the raw server segment; null when the path is not that shape. */
export function mcpPathServer(url: string): string | null {
  if (!url.startsWith('/mcp/')) return null;
  const q = url.indexOf('?', 5);
  const path = q === -1 ? url.slice(5) : url.slice(5, q);
  if (path.length === 0 || path.includes('/')) return null;
  return path;
}

export function makeMcpHandler(d: McpHandlerDeps): McpHttpHandler {
  return function handle(req, res) {
    const method = req.method;
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') return false;
    const url = req.url ?? '';
    const server = mcpPathServer(url);
    if (server === null) return false;
    void serve(d, req, res, method, url, server);
    return true;
  };
}

/** Serve one /mcp request. Never rejects: a failure becomes the error response here, so no `.catch` per request. */
async function serve(d: McpHandlerDeps, req: McpRequest, res: McpResponse, method: 'POST' | 'GET' | 'DELETE', url: string, server: string): Promise<void> {
  try {
    if (d.shuttingDown()) throw new GatewayError('service_unavailable', { detail: 'The gateway is shutting down', headers: { Connection: 'close' } });

    const ip = d.clientIp(req);
    const knownServer = SERVER_NAME_RE.test(server) ? server : null;
    const exempt = d.limits.isExempt(ip);
    let rate: RateState | null = null;
    if (!exempt && d.limits.hasAnonymousRules) rate = await d.limits.checkAnonymous(ip, knownServer);

    if (!d.originOk(req.headers.origin)) throw new GatewayError('origin_not_allowed', { detail: 'Origin not allowed' });

    let caller: Principal;
    try {
      const who = d.auth.authenticate(credentialInputRaw(req, url));
      caller = who instanceof Promise ? await who : who;
    } catch (e) {
      if (e instanceof GatewayError && e.status === 401) {
        d.audit.record({ action: 'mcp.request', actorType: 'anonymous', server: knownServer, method: null, decision: 'deny', status: 401, ip, detail: { code: e.code } });
        d.metrics.mcpRequest(knownServer && d.isServer(knownServer) ? knownServer : null, null, 'unauthenticated');
        const rm = `resource_metadata="${d.resourceMetadataUrl(server)}"`;
        const challenge = e.code === 'unauthenticated' ? `Bearer ${rm}` : `Bearer ${rm}, error="invalid_token"`;
        throw new GatewayError(e.code, { detail: e.detail, internal: e.internal, headers: { ...e.headers, 'WWW-Authenticate': challenge } });
      }
      throw e;
    }
    if (!exempt) {
      const pending = d.limits.checkPrincipal(caller, ip, knownServer);
      if (pending) rate = tighter(rate, await pending);
    }
    if (knownServer === null) throw new GatewayError('unknown_server', { detail: `No MCP server named ${server}` });

    let body: Buffer | null = null;
    if (method === 'POST') {
      const ctype = req.headers['content-type'];
      if (ctype === undefined || !ctype.toLowerCase().startsWith(JSON_CT)) throw new GatewayError('unsupported_media_type', { detail: 'Content-Type must be application/json' });
      // The lean layer has read the body (within the limit) before calling the handler.
      body = req instanceof LeanRequest ? req.body : await readBody(req as IncomingMessage, d.bodyLimit);
    }

    const preq = new HttpProxyRequest(knownServer, caller, req.headers, body, ip, res);
    const out = method === 'POST' ? await d.proxy.post(preq) : method === 'GET' ? await d.proxy.get(preq) : await d.proxy.delete(preq);
    const sending = send(res, out, rate);
    if (sending) await sending;
  } catch (e) {
    fail(d, res, e);
  }
}

/**
 * The proxy's view of one /mcp request. The "client gone" signal is made only
 * when something asks for it (event streams, stdio/SSE upstreams).
 *
 * A class, not an object literal with `get signal() {...}`: a literal's getter
 * is a new closure each time, and V8 keeps accessors in the hidden class, so
 * every request object got a hidden class of its own. Hidden classes live in
 * the old generation; their reference to the getter's closure (and through it
 * to req, res and everything else of the request) kept each request alive
 * through young-generation collections, then promoted it: ~3.5 KB per request
 * reached the old generation, scavenges took 3–4× longer and full collections
 * ran every 2 s under load (docs/performance-history.md).
 */
export class HttpProxyRequest implements ProxyRequest {
  private ac: AbortController | null = null;

  constructor(
    readonly server: string,
    readonly caller: Principal,
    readonly headers: IncomingMessage['headers'],
    readonly body: Buffer | null,
    readonly ip: string | null,
    private readonly res: McpResponse,
  ) {}

  get signal(): AbortSignal {
    if (this.ac === null) {
      const c = (this.ac = new AbortController());
      const res = this.res;
      if (res.closed) c.abort();
      else res.once('close', () => res.writableFinished || c.abort());
    }
    return this.ac.signal;
  }
}

/** Read the request body; 413 as soon as it exceeds the limit (never buffered past it). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(new GatewayError('payload_too_large', { detail: 'The request body is too large', headers: { Connection: 'close' } }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new GatewayError('payload_too_large', { detail: 'The request body is too large', headers: { Connection: 'close' } }));
        return;
      }
      chunks.push(c);
    });
    // `on`, not `once`: each fires at most once per request (settling twice is a no-op), and `once` wraps every listener.
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (e) => reject(new GatewayError('bad_request', { detail: 'The request body could not be read', internal: e })));
  });
}

/** Write the response; a promise only while a streamed JSON reply is being gathered. */
function send(res: McpResponse, r: ProxyResponse, rate: RateState | null): Promise<void> | undefined {
  const headers: Record<string, string | number> = rate ? { ...r.headers, ...rateLimitHeaders(rate) } : r.headers;
  const b = r.body;
  if (!(b instanceof Readable)) {
    if (b) headers['content-length'] = b.length;
    res.writeHead(r.status, headers);
    res.end(b ?? undefined);
    return;
  }
  const ctype = String(r.headers['content-type'] ?? '');
  // Small JSON replies go out in one write; larger ones stream.
  if (ctype.startsWith(JSON_CT)) return sendGathered(res, r.status, headers, b);
  res.writeHead(r.status, headers);
  res.flushHeaders();
  pipeInto(b, res);
}

async function sendGathered(res: McpResponse, status: number, headers: Record<string, string | number>, b: Readable): Promise<void> {
  let got: Collected;
  try {
    got = await collect(b, MAX_GATHERED_REPLY);
  } catch (e) {
    if (!res.headersSent && !res.destroyed) throw toGatewayError(e);
    res.destroy();
    return;
  }
  if (!got.overflow) {
    headers['content-length'] = got.size;
    res.writeHead(status, headers);
    res.end(got.chunks.length === 1 ? got.chunks[0] : Buffer.concat(got.chunks, got.size));
    return;
  }
  res.writeHead(status, headers);
  for (const c of got.chunks) res.write(c);
  pipeInto(b, res);
}

interface Collected {
  chunks: Buffer[];
  size: number;
  /** More than `cap` bytes: collection stopped with the stream paused. */
  overflow: boolean;
}

/** Gather a body up to `cap` bytes with plain listeners (no async-iterator machinery per reply). */
function collect(body: Readable, cap: number): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > cap) {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', reject);
        body.pause();
        resolve({ chunks, size, overflow: true });
      }
    };
    const onEnd = () => {
      body.off('error', reject);
      resolve({ chunks, size, overflow: false });
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', reject);
  });
}

/**
 * Stream `body` into the response with backpressure (both response kinds;
 * `pipe` needs a Writable). A response ended elsewhere (the drain ends open
 * event streams) is written no more, as `pipe` stops at 'finish': a write
 * after end is an 'error' on a ServerResponse. Its 'close' then releases the
 * body.
 */
function pipeInto(body: Readable, res: McpResponse): void {
  const resume = () => body.resume();
  body.on('data', (c: Buffer) => {
    if (res.writableEnded) body.pause();
    else if (!res.write(c)) body.pause();
  });
  body.on('end', () => {
    res.off('drain', resume);
    if (!res.writableEnded) res.end();
  });
  body.on('error', () => res.destroy());
  res.on('drain', resume);
  res.once('close', () => body.destroy());
  // collect() may have left it paused at the gathering cap.
  body.resume();
}

function fail(d: McpHandlerDeps, res: McpResponse, e: unknown): void {
  const err = toGatewayError(e);
  // A refusal of our own (shutting down, a limit) is not worth an error line; a backing service that failed is.
  if (err.status >= 500 && (err.code !== 'service_unavailable' || err.internal !== undefined)) d.logger.error({ err: err.internal ?? e, code: err.code }, 'MCP request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(toJsonRpc(err, null));
  res.writeHead(err.status, { ...err.headers, 'content-type': JSON_CT, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
