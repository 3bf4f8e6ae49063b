/**
 * The gateway's one HTTP door: node:http reads every request (within
 * `server.timeouts`), fastify's router routes it once, on one normalized
 * path (http/request-target.ts), to a route. Routes are added by app.ts;
 * in-process `inject` calls go through the same router.
 *
 * Every request is answered or its connection closed within bounded time:
 *   - node:http closes a connection whose head has not arrived within
 *     `headers`, or whose head and body have not within `request`, with 408
 *     (a response, such as an event stream, may last longer); an idle
 *     keep-alive connection closes after `keep_alive`;
 *   - a target that is not a plain path gets 400, an unknown path 404, a
 *     known path with another method 405 with `Allow`;
 *   - an HTTP message node:http cannot parse gets 400 (431 for an oversized
 *     head) and the connection is closed.
 * Refusals are problem+json bodies with a registry code (routes may answer
 * in their own shape: JSON-RPC on /mcp, RFC 6749 on /oauth/token).
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps, type ServerOptions as HttpsOptions } from 'node:https';
import { type Socket } from 'node:net';
import { GatewayError, PROBLEM_CONTENT_TYPE, toGatewayError, toProblem } from '../errors/index.js';
import { type Logger } from '../lib/logger.js';
import { jsonBodyParser, LINGERING, settleUnreadBody } from './body.js';
import { normalizeTarget } from './request-target.js';

export interface ServerTimeouts {
  /** Milliseconds for the request head to arrive. */
  headers: number;
  /** Milliseconds for the head and the body to arrive. */
  request: number;
  /** Milliseconds an idle keep-alive connection is kept. */
  keep_alive: number;
}

export interface HttpOptions {
  logger: Logger;
  /** The largest body any route accepts (`server.body_limit`). */
  bodyLimit: number;
  timeouts: ServerTimeouts;
  /** Trusted-proxy rule for `req.ip` (a function from http/client-ip.ts, or CIDRs). */
  trustProxy?: boolean | string[] | ((address: string, hop: number) => boolean);
  https?: HttpsOptions | null;
}

/** Body limit of the endpoints that take a body before any credential: `/api/v1/auth/*`, `/oauth/*`, `/login`, `/logout`. */
export const PUBLIC_BODY_LIMIT = 64 * 1024;

const isPublicPath = (pattern: string) => pattern.startsWith('/api/v1/auth/') || pattern.startsWith('/oauth/') || pattern === '/login' || pattern === '/logout';

/** A request whose target was refused is routed here, where only the not-found handler answers it (with 400). */
const INVALID_TARGET_PATH = '/.portcullis-invalid-target';
const BAD_TARGET = Symbol('portcullis.badTarget');
type RawRequest = IncomingMessage & { [BAD_TARGET]?: true };

/** How much of a refused body is read and discarded before the connection is closed instead (see http/body.ts). */
export const lingerBytesFor = (bodyLimit: number) => 4 * bodyLimit;

/** Map framework errors (body parsing, limits) onto the registry. */
export function frameworkError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  const fe = e as FastifyError & { statusCode?: number };
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('payload_too_large', { detail: 'The request body is too large' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type', { detail: 'Unsupported Content-Type' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('bad_request', { detail: 'The request body is not valid JSON' });
  }
  if (fe instanceof SyntaxError || (fe?.statusCode === 400 && typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP')))
    return new GatewayError('bad_request', { detail: 'The request body is not valid JSON' });
  return toGatewayError(e);
}

/**
 * Before a refusal is sent: log it, and settle a body still arriving (read
 * and discarded within bounds, or the connection closed). Every error
 * handler calls this, whatever shape it answers in.
 */
export function prepareRefusal(req: FastifyRequest, reply: FastifyReply, err: GatewayError, cause: unknown, lingerBytes: number): void {
  if (err.status >= 500) req.log.error({ err: err.internal ?? cause, code: err.code }, 'request failed');
  else req.log.debug({ code: err.code }, 'request refused');
  if (settleUnreadBody(req.raw, lingerBytes)) reply.header('connection', 'close');
  else reply.removeHeader('connection');
}

/** The canonical target (fastify's `rewriteUrl`): what the router, hooks and handlers see as `req.url`. */
function canonicalUrl(req: RawRequest): string {
  const url = normalizeTarget(req.url ?? '');
  if (url !== null) return url;
  req[BAD_TARGET] = true;
  return INVALID_TARGET_PATH;
}

/** node:http with the configured timeouts (plain, or TLS when `https` is set). */
function nodeServerFactory(opts: HttpOptions) {
  const t = opts.timeouts;
  const settings = {
    headersTimeout: t.headers,
    requestTimeout: t.request,
    keepAliveTimeout: t.keep_alive,
    // How often node:http looks for connections past headersTimeout/requestTimeout (default 30 s).
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(t.headers / 4))),
  };
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const server = (opts.https ? createHttps({ ...opts.https, ...settings, handshakeTimeout: t.headers }, handler) : createHttp(settings, handler)) as Server;
    server.headersTimeout = t.headers;
    server.requestTimeout = t.request;
    server.keepAliveTimeout = t.keep_alive;
    return server;
  };
}

/** The registry error for a message node:http refused before any route saw it. */
function clientErrorOf(e: NodeJS.ErrnoException): GatewayError {
  if (e.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new GatewayError('request_timeout', { detail: 'The request did not arrive in time' });
  if (e.code === 'HPE_HEADER_OVERFLOW') return new GatewayError('headers_too_large', { detail: 'The request head is too large' });
  return new GatewayError('bad_request', { detail: 'The request is not a valid HTTP/1.1 message' });
}

/**
 * node:http's `clientError` (fastify's `clientErrorHandler`): answer when no
 * response has started on the connection, then close it.
 */
function answerClientError(this: FastifyInstance, e: NodeJS.ErrnoException, socket: Socket): void {
  if (e.code === 'ECONNRESET' || socket.destroyed) return;
  const s = socket as Socket & { _httpMessage?: ServerResponse | null; [LINGERING]?: boolean };
  const err = clientErrorOf(e);
  this.log.debug({ code: err.code, reason: e.code }, 'client error');
  if (socket.writable && !s[LINGERING] && !s._httpMessage?.headersSent) {
    const body = JSON.stringify(toProblem(err));
    socket.write(
      `HTTP/1.1 ${err.status} ${err.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** 404 for an unknown path, 405 with `Allow` for a known path and another method, 400 for a refused target. */
function unroutedError(app: FastifyInstance, methods: ReadonlySet<string>) {
  return function unrouted(req: FastifyRequest): GatewayError {
    if ((req.raw as RawRequest)[BAD_TARGET]) return new GatewayError('bad_request', { detail: 'The request target is not a plain path' });
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    const allow = [...methods].filter((method) => app.findRoute({ method, url: path }) !== null).sort();
    if (allow.length) return new GatewayError('method_not_allowed', { detail: `${req.method} is not allowed on ${path}`, headers: { Allow: allow.join(', ') } });
    return new GatewayError('not_found', { detail: `No route for ${req.method} ${path}` });
  };
}

/** Fastify with the gateway's error model, logging, limits and timeouts. Routes are added by app.ts. */
export function createHttpServer(opts: HttpOptions): FastifyInstance {
  const lingerBytes = lingerBytesFor(opts.bodyLimit);
  const app = Fastify({
    loggerInstance: opts.logger,
    // Per-request lines are off (routes log what matters, without secrets); the
    // top-level disableRequestLogging option is deprecated (FSTDEP023).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    return503OnClosing: true,
    forceCloseConnections: false,
    requestIdHeader: false,
    ...(opts.https ? { https: opts.https } : {}),
    serverFactory: nodeServerFactory(opts),
    rewriteUrl: canonicalUrl,
    clientErrorHandler: answerClientError,
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBodyParser);

  const methods = new Set<string>();
  const publicLimit = Math.min(PUBLIC_BODY_LIMIT, opts.bodyLimit);
  app.addHook('onRoute', (route) => {
    for (const m of [route.method].flat()) methods.add(m);
    if (route.bodyLimit === undefined && isPublicPath(route.url)) route.bodyLimit = publicLimit;
  });

  app.setErrorHandler((e, req, reply) => {
    const err = frameworkError(e);
    prepareRefusal(req, reply, err, e, lingerBytes);
    reply.code(err.status).headers(err.headers).type(PROBLEM_CONTENT_TYPE).send(toProblem(err));
  });
  // A request no route takes is answered before its body is read (the not-found
  // handler itself would run only after fastify had parsed the body).
  const unrouted = unroutedError(app, methods);
  app.addHook('onRequest', (req, _reply, done) => done(req.is404 ? unrouted(req) : undefined));
  app.setNotFoundHandler((req) => {
    throw unrouted(req);
  });
  return app;
}
