import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { GatewayError, PROBLEM_CONTENT_TYPE, toGatewayError, toProblem } from '../errors/index.js';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps, type ServerOptions as HttpsOptions } from 'node:https';
import { installLean } from './lean/server.js';
import { type Logger } from '../lib/logger.js';
import { type McpHttpHandler } from './mcp-handler.js';

export interface HttpOptions {
  logger: Logger;
  bodyLimit: number;
  /** Trusted-proxy rule for `req.ip` (a function from http/client-ip.ts, or CIDRs). */
  trustProxy?: boolean | string[] | ((address: string, hop: number) => boolean);
  https?: import('node:https').ServerOptions | null;
  /**
   * Requests this handler claims (returns true) bypass fastify entirely: the
   * MCP hot path is served by the lean HTTP/1.1 layer (http/lean/server.ts)
   * when its narrow shape fits, else by a bare node:http handler. Set after
   * routes are built.
   */
  rawRoutes?: RawRouteSlot;
}

export interface RawRouteSlot {
  handler: McpHttpHandler | null;
}

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

/** Fastify with the gateway's error model, logging and limits. Routes are added by app.ts. */
export function createHttpServer(opts: HttpOptions): FastifyInstance {
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
    ...(opts.rawRoutes ? { serverFactory: rawAwareServerFactory(opts.rawRoutes, opts.https ?? null, opts.bodyLimit) } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.setErrorHandler((e, req, reply) => {
    const err = frameworkError(e);
    if (err.status >= 500) req.log.error({ err: err.internal ?? e, code: err.code }, 'request failed');
    else req.log.debug({ code: err.code }, 'request refused');
    reply.code(err.status).headers(err.headers).type(PROBLEM_CONTENT_TYPE).send(toProblem(err));
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new GatewayError('not_found', { detail: `No route for ${req.method} ${req.url.split('?')[0]}` });
    reply.code(404).type(PROBLEM_CONTENT_TYPE).send(toProblem(err));
  });
  return app;
}

/**
 * The node server fastify listens on, with the lean HTTP/1.1 layer in front
 * of node:http's connection handling: requests of its narrow shape go from
 * there to the raw slot; of the requests node:http parses, those the raw slot
 * claims are served there, everything else goes to fastify's handler. Same
 * timeouts as fastify's own server.
 */
function rawAwareServerFactory(slot: RawRouteSlot, https: HttpsOptions | null, bodyLimit: number) {
  return (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const dispatch = (req: IncomingMessage, res: ServerResponse) => {
      const h = slot.handler;
      if (h !== null && h(req, res)) return;
      fastifyHandler(req, res);
    };
    const server = (https ? createHttps(https, dispatch) : createHttp(dispatch)) as Server;
    server.keepAliveTimeout = 72_000;
    server.requestTimeout = 0;
    installLean(server, { handler: () => slot.handler, bodyLimit });
    return server;
  };
}
