/**
 * POST|GET|DELETE /mcp/{server}: the MCP Streamable HTTP endpoint.
 *
 * Builds the proxy and installs the lean node:http handler (http/mcp-handler.ts)
 * that serves the endpoint outside fastify; the RFC 9728 metadata routes stay
 * on fastify. Errors on this path are JSON-RPC bodies (MCP clients expect them).
 */
import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';
import { McpProxy } from '../../proxy/mcp-proxy.js';
import { SessionManager } from '../../proxy/sessions.js';
import { makeMcpHandler } from '../mcp-handler.js';
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

export async function mcpRoutes(app: FastifyInstance, s: Services): Promise<void> {
  await protectedResourceRoutes(app, s);
  const base = s.config.server.public_url;
  const sessions = new SessionManager(s.store, s.registry, s.upstreams, s.bus, s.replicaId, s.logger);
  s.onClose(() => sessions.close());
  const proxy = new McpProxy({
    registry: s.registry,
    upstreams: s.upstreams,
    sessions,
    groups: () => s.cache.groupsNow() ?? s.cache.groupMap(),
    audit: s.audit,
    usage: s.usage,
    logger: s.logger,
    resourceMetadataUrl: (server) => mcpResourceMetadataUrl(base, server),
    metrics: s.metrics,
  });
  const originOk = makeOriginCheck(s.config.server.allowed_origins, s.config.server.host);
  // The MCP endpoint bypasses fastify: see http/mcp-handler.ts.
  const handle = makeMcpHandler({
    proxy,
    auth: s.auth,
    audit: s.audit,
    metrics: s.metrics,
    logger: s.logger,
    limits: s.rateLimits,
    clientIp: s.clientIp,
    bodyLimit: s.config.server.body_limit,
    originOk,
    isServer: (name) => s.registry.get(name) !== undefined,
    resourceMetadataUrl: (server) => mcpResourceMetadataUrl(base, server),
    shuttingDown: () => s.lifecycle.shuttingDown,
  });
  s.rawRoutes.handler = handle;
  // Requests that reach fastify anyway (in-process `inject`) are handed to the
  // same handler before fastify reads the body.
  app.route({
    method: ['POST', 'GET', 'DELETE'],
    url: '/mcp/:server',
    onRequest: (req, reply, done) => {
      reply.hijack();
      if (!handle(req.raw, reply.raw)) done();
    },
    handler: async () => undefined,
  });
}
