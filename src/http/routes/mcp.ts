/**
 * POST|GET|DELETE /mcp/{server}: the MCP Streamable HTTP endpoint.
 *
 *   checkOrigin → authenticate (before the body is read) → read raw body
 *   (bounded) → McpProxy (parse once, authorize each message, forward, relay)
 *
 * Errors on this path are JSON-RPC bodies (not problem+json): MCP clients
 * expect them. The raw-body parser and the error handler are scoped to this
 * plugin only.
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { type Services } from '../../app.js';
import { SERVER_NAME_RE } from '../../config/schema.js';
import { GatewayError, toJsonRpc } from '../../errors/index.js';
import { McpProxy, type ProxyRequest, type ProxyResponse } from '../../proxy/mcp-proxy.js';
import { SessionManager } from '../../proxy/sessions.js';
import { credentialInput } from '../middleware/authenticate.js';
import { applyPrincipalLimits } from '../middleware/rate-limit.js';
import { frameworkError } from '../server.js';
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

declare module 'fastify' {
  interface FastifyRequest {
    mcpAbort?: AbortController;
  }
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
    groups: () => s.cache.groupMap(),
    audit: s.audit,
    usage: s.usage,
    logger: s.logger,
    resourceMetadataUrl: (server) => mcpResourceMetadataUrl(base, server),
    metrics: s.metrics,
  });
  const originOk = makeOriginCheck(s.config.server.allowed_origins, s.config.server.host);

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Keep the bytes: McpProxy parses once and forwards the original body when nothing was filtered.
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: s.config.server.body_limit }, (_req, body, done) => done(null, body));

    scope.setErrorHandler((e, req, reply) => {
      const err = frameworkError(e);
      if (err.status >= 500) req.log.error({ err: err.internal ?? e, code: err.code }, 'MCP request failed');
      reply.code(err.status).headers(err.headers).type('application/json').send(toJsonRpc(err, null));
    });

    // Origin and credentials are checked before the body is read.
    scope.addHook<{ Params: { server: string } }>('onRequest', async (req, reply) => {
      if (!originOk(req.headers.origin))
        throw new GatewayError('origin_not_allowed', { detail: 'Origin not allowed' });
      const server = req.params.server;
      try {
        req.principal = await s.auth.authenticate(credentialInput(req));
      } catch (e) {
        if (e instanceof GatewayError && e.status === 401) {
          s.audit.record({ action: 'mcp.request', actorType: 'anonymous', server: SERVER_NAME_RE.test(server) ? server : null, method: null, decision: 'deny', status: 401, ip: req.ip, detail: { code: e.code } });
          s.metrics.mcpRequest(s.registry.get(server) ? server : null, null, 'unauthenticated');
          const rm = `resource_metadata="${mcpResourceMetadataUrl(base, server)}"`;
          const challenge = e.code === 'unauthenticated' ? `Bearer ${rm}` : `Bearer ${rm}, error="invalid_token"`;
          throw new GatewayError(e.code, { detail: e.detail, internal: e.internal, headers: { ...e.headers, 'WWW-Authenticate': challenge } });
        }
        throw e;
      }
      // Per-token, per-user and per-group budgets (429 with a JSON-RPC body via the scope's error handler).
      await applyPrincipalLimits(req, reply, s.rateLimits, s.clientIp);
      if (!SERVER_NAME_RE.test(server)) throw new GatewayError('unknown_server', { detail: `No MCP server named ${server}` });
      const ac = new AbortController();
      req.mcpAbort = ac;
      req.raw.socket?.setTimeout?.(0);
    });

    const toProxy = (req: FastifyRequest<{ Params: { server: string } }>, reply: FastifyReply): ProxyRequest => {
      const ac = req.mcpAbort ?? new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) ac.abort();
      });
      return {
        server: req.params.server,
        caller: req.principal!,
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : null,
        signal: ac.signal,
        ip: req.ip ?? null,
      };
    };

    scope.post<{ Params: { server: string } }>('/mcp/:server', async (req, reply) => {
      const ctype = (req.headers['content-type'] ?? '').toLowerCase();
      if (!ctype.startsWith('application/json')) throw new GatewayError('unsupported_media_type', { detail: 'Content-Type must be application/json' });
      return send(reply, await proxy.post(toProxy(req, reply)));
    });
    scope.get<{ Params: { server: string } }>('/mcp/:server', async (req, reply) => send(reply, await proxy.get(toProxy(req, reply))));
    scope.delete<{ Params: { server: string } }>('/mcp/:server', async (req, reply) => send(reply, await proxy.delete(toProxy(req, reply))));
  });
}

function send(reply: FastifyReply, r: ProxyResponse): FastifyReply | void {
  if (r.body instanceof Readable) {
    const body = r.body;
    reply.hijack();
    const raw = reply.raw;
    // Headers set on the reply before the hijack (RateLimit-*) go out too.
    raw.writeHead(r.status, { ...(reply.getHeaders() as Record<string, string>), ...r.headers });
    raw.flushHeaders();
    body.on('error', () => raw.destroy());
    raw.on('close', () => body.destroy());
    body.pipe(raw);
    return;
  }
  reply.code(r.status).headers(r.headers);
  return reply.send(r.body ?? undefined);
}
