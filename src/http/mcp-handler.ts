/**
 * POST|GET|DELETE /mcp/{server}: the MCP endpoint's handler, an ordinary
 * route of the router (http/routes/mcp.ts). Before it runs, the route's
 * first step has resolved the client address and checked the per-IP and
 * global budgets (http/middleware/rate-limit.ts); the body is still unread.
 * Then, top to bottom:
 *
 *   refuseWhileShuttingDown → checkOrigin → serverNameOf →
 *   authenticateCaller (before the body is read) → resolveServer →
 *   limitPrincipal → readMcpBody (bounded) → forward (McpProxy: parse,
 *   authorize each message, forward, relay) → sendProxyResponse
 *
 * Every refusal is a JSON-RPC error body (MCP clients expect one), with the
 * same statuses, codes, challenges, audit events and metrics as elsewhere.
 */
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type Authenticator } from '../auth/authenticate.js';
import { mcpChallenge } from '../auth/challenge.js';
import { type Principal } from '../auth/principal.js';
import { SERVER_NAME_RE } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../errors/index.js';
import { type Logger } from '../lib/logger.js';
import { type McpProxy, type ProxyRequest, type ProxyResponse } from '../proxy/mcp-proxy.js';
import { type RateLimits } from '../ratelimit/index.js';
import { readBody, settleUnreadBody } from './body.js';
import { type ClientIpResolver } from './client-ip.js';
import { sendJsonRpcError, sendProxyResponse } from './mcp-response.js';
import { credentialInput, withChallenge } from './middleware/authenticate.js';
import { applyPrincipalLimits } from './middleware/rate-limit.js';

export interface McpHandlerDeps {
  proxy: McpProxy;
  auth: Authenticator;
  logger: Logger;
  limits: RateLimits;
  clientIp: ClientIpResolver;
  bodyLimit: number;
  /** How much of a refused body is read and discarded before the connection is closed instead. */
  lingerBytes: number;
  originOk: (origin: string | undefined) => boolean;
  isServer: (name: string) => boolean;
  resourceMetadataUrl: (server: string) => string;
  shuttingDown: () => boolean;
}

type McpRequest = FastifyRequest<{ Params: { server: string } }>;

const JSON_CT = 'application/json';

/** The route handler: the steps above, in order; every failure becomes the JSON-RPC refusal here. */
export function makeMcpHandler(d: McpHandlerDeps) {
  return async function serveMcp(req: McpRequest, reply: FastifyReply): Promise<void> {
    reply.hijack();
    const res = reply.raw;
    try {
      refuseWhileShuttingDown(d);
      checkOrigin(d, req);
      const name = serverNameOf(req);
      const caller = await authenticateCaller(d, req, name);
      const server = resolveServer(d, name);
      await limitPrincipal(d, req, caller);
      const body = req.method === 'POST' ? await readMcpBody(d, req.raw) : null;
      const out = await forward(d, req, server, caller, body, res);
      await sendProxyResponse(res, out, req.rateState ?? null);
    } catch (e) {
      refuse(d, req.raw, res, e);
    }
  };
}

function refuseWhileShuttingDown(d: McpHandlerDeps): void {
  if (d.shuttingDown()) throw new GatewayError('service_unavailable', { detail: 'The gateway is shutting down', headers: { Connection: 'close' } });
}

/** DNS-rebinding defence: a present Origin must be allowed. */
function checkOrigin(d: McpHandlerDeps, req: McpRequest): void {
  if (!d.originOk(req.headers.origin)) throw new GatewayError('origin_not_allowed', { detail: 'Origin not allowed' });
}

const unknownServer = (name: string) => new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });

/** The path's server segment; one that cannot be a server name is refused before anything else (no server can have it). */
function serverNameOf(req: McpRequest): string {
  const name = req.params.server;
  if (!SERVER_NAME_RE.test(name)) throw unknownServer(name);
  return name;
}

/** The caller, before any of the body is read; a 401 is audited and carries the endpoint's challenge. */
async function authenticateCaller(d: McpHandlerDeps, req: McpRequest, name: string): Promise<Principal> {
  try {
    return await d.auth.authenticate(credentialInput(req));
  } catch (e) {
    if (e instanceof GatewayError && e.status === 401) {
      d.proxy.audit.unauthenticated(name, clientIpOf(d, req), e.code);
    }
    throw withChallenge(e, (code) => mcpChallenge(d.resourceMetadataUrl(name), code));
  }
}

/** The named server must exist. */
function resolveServer(d: McpHandlerDeps, name: string): string {
  if (!d.isServer(name)) throw unknownServer(name);
  return name;
}

/** Per-token, per-user and per-group budgets; the tightest state applied ends up in req.rateState. */
async function limitPrincipal(d: McpHandlerDeps, req: McpRequest, caller: Principal): Promise<void> {
  req.principal = caller;
  await applyPrincipalLimits(req, undefined, d.limits, d.clientIp);
}

/** The body of a POST: JSON only, at most server.body_limit (413 past it, never buffered beyond). */
function readMcpBody(d: McpHandlerDeps, req: IncomingMessage): Promise<Buffer> {
  const ctype = req.headers['content-type'];
  if (ctype === undefined || !ctype.toLowerCase().startsWith(JSON_CT)) throw new GatewayError('unsupported_media_type', { detail: 'Content-Type must be application/json' });
  return readBody(req, d.bodyLimit);
}

/** Hand the request to the proxy. */
function forward(d: McpHandlerDeps, req: McpRequest, server: string, caller: Principal, body: Buffer | null, res: ServerResponse): Promise<ProxyResponse> {
  const preq = new HttpProxyRequest(server, caller, req.headers, body, clientIpOf(d, req), res);
  if (req.method === 'POST') return d.proxy.post(preq);
  if (req.method === 'GET') return d.proxy.get(preq);
  return d.proxy.delete(preq);
}

const clientIpOf = (d: McpHandlerDeps, req: McpRequest): string => req.clientIp ?? d.clientIp(req.raw);

/** Answer a failure: a JSON-RPC error, or — once a response has started — the connection cut. */
function refuse(d: McpHandlerDeps, req: IncomingMessage, res: ServerResponse, e: unknown): void {
  const err = toGatewayError(e);
  const clientGone = res.destroyed || req.socket?.destroyed === true;
  // A refusal of our own (shutting down, a limit) or a client that left is not worth an error line; a backing service that failed is.
  if (clientGone) d.logger.debug({ code: err.code }, 'MCP client went away');
  else if (err.status >= 500 && (err.code !== 'service_unavailable' || err.internal !== undefined)) d.logger.error({ err: err.internal ?? e, code: err.code }, 'MCP request failed');
  if (res.headersSent || clientGone) {
    res.destroy();
    return;
  }
  sendJsonRpcError(res, err, settleUnreadBody(req, d.lingerBytes) ? { connection: 'close' } : {});
}

/**
 * The proxy's view of one /mcp request. The "client gone" signal is made only
 * when something asks for it (event streams, stdio/SSE upstreams).
 *
 * A class with the getter on its prototype: an object literal with its own
 * `get signal()` would give every request a hidden class of its own, whose
 * closure kept the whole request alive into V8's old generation.
 */
export class HttpProxyRequest implements ProxyRequest {
  private ac: AbortController | null = null;

  constructor(
    readonly server: string,
    readonly caller: Principal,
    readonly headers: IncomingMessage['headers'],
    readonly body: Buffer | null,
    readonly ip: string | null,
    private readonly res: ServerResponse,
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
