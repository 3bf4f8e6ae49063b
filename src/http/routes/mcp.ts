/**
 * POST|GET|DELETE /mcp/{server}: the MCP Streamable HTTP endpoint, an
 * ordinary route (the handler is http/mcp-handler.ts), and the RFC 9728
 * metadata routes. In the endpoint's scope no content-type parser reads the
 * body: the handler reads it itself, bounded, once the caller is
 * authenticated. Errors on this path are JSON-RPC bodies (MCP clients
 * expect them), whichever step raised them.
 */
import { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { toJsonRpc } from '../../errors/index.js';
import { type Services } from '../services.js';
import { makeMcpHandler } from '../mcp-handler.js';
import { frameworkError, lingerBytesFor, prepareRefusal } from '../server.js';
import { mcpResourceMetadataUrl, protectedResourceRoutes } from './protected-resource.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);

function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && (u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]');
  } catch {
    return false;
  }
}

const normOrigin = (o: string) => o.trim().toLowerCase().replace(/\/+$/, '');

/**
 * Origin policy (DNS-rebinding defence): an absent Origin is fine (non-browser
 * clients); a present one must be in `server.allowed_origins`, or — when that
 * list is empty and the gateway listens on loopback — be a localhost origin.
 */
export function makeOriginCheck(allowed: readonly string[], host: string): (origin: string | undefined) => boolean {
  const set = new Set(allowed.map(normOrigin));
  const loopback = LOOPBACK_HOSTS.has(host);
  return (origin) => {
    if (origin === undefined) return true;
    if (set.size) return set.has(normOrigin(origin));
    return loopback && isLoopbackOrigin(origin);
  };
}

/** A content-type "parser" that leaves the body unread for the handler. */
function leaveBodyUnread(_req: FastifyRequest, _payload: unknown, done: (err: null, body?: undefined) => void): void {
  done(null);
}

export async function mcpRoutes(app: FastifyInstance, s: Services): Promise<void> {
  await protectedResourceRoutes(app, s);
  const base = s.config.server.public_url;
  const lingerBytes = lingerBytesFor(s.config.server.body_limit);
  const handler = makeMcpHandler({
    proxy: s.mcpProxy,
    auth: s.auth,
    logger: s.logger,
    limits: s.rateLimits,
    clientIp: s.clientIp,
    bodyLimit: s.config.server.body_limit,
    lingerBytes,
    originOk: makeOriginCheck(s.config.server.allowed_origins, s.config.server.host),
    isServer: (name) => s.registry.get(name) !== undefined,
    resourceMetadataUrl: (server) => mcpResourceMetadataUrl(base, server),
    shuttingDown: () => s.lifecycle.shuttingDown,
  });
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', leaveBodyUnread);
    scope.setErrorHandler((e: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const err = frameworkError(e);
      prepareRefusal(req, reply, err, e, lingerBytes);
      reply.code(err.status).headers(err.headers).type('application/json').send(toJsonRpc(err, null));
    });
    scope.route({
      method: ['POST', 'GET', 'DELETE'],
      url: '/mcp/:server',
      // HEAD gets 405 like any other method the endpoint does not serve.
      exposeHeadRoute: false,
      config: { requestLimits: 'mcp' },
      handler,
    });
  });
}
