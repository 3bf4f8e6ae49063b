/**
 * Rate limits on the HTTP surface. Two steps:
 *  1. an `onRequest` hook (before authentication, before the body is read)
 *     resolves the client address and checks the per-IP and global budgets
 *     for `/api/`, `/oauth/` and `/mcp` paths;
 *  2. `withRateLimits(authenticate)` checks the per-token, per-user and
 *     per-group budgets right after a successful authentication.
 * A refused request gets 429 with `Retry-After` and `RateLimit-*`: a
 * problem+json `rate_limited` on the API, a JSON-RPC error (-32029) on /mcp.
 * Successful responses carry `RateLimit-*` of the tightest budget applied.
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type AuditSink } from '../../audit/types.js';
import { SERVER_NAME_RE } from '../../config/schema.js';
import { GatewayError, toJsonRpc } from '../../errors/index.js';
import { type Metrics } from '../../metrics/index.js';
import { rateLimitHeaders, tighter, type RateLimitHooks, type RateLimits, type RateState } from '../../ratelimit/index.js';
import { type Logger } from '../../lib/logger.js';
import { type ClientIpResolver } from '../client-ip.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Client address (XFF honoured only from trusted proxies); set by the rate-limit hook. */
    clientIp?: string;
    /** Tightest rate-limit budget applied so far (for RateLimit-* headers). */
    rateState?: RateState | null;
    /** The client address is in `rate_limits.exempt`. */
    rateExempt?: boolean;
  }
}

/** Paths the request limits apply to. Health, metrics and discovery documents are never limited. */
export function isLimitedPath(url: string): boolean {
  return url.startsWith('/api/') || url.startsWith('/mcp') || url.startsWith('/oauth/') || url.startsWith('/login') || url.startsWith('/logout');
}

export const isMcpPath = (url: string): boolean => url === '/mcp' || url.startsWith('/mcp/') || url.startsWith('/mcp?');

/** `/mcp/{server}...` → server name when well-formed (never an arbitrary string). */
export function mcpServerOf(url: string): string | null {
  if (!url.startsWith('/mcp/')) return null;
  let end = url.length;
  for (const c of ['/', '?']) {
    const i = url.indexOf(c, 5);
    if (i !== -1 && i < end) end = i;
  }
  const name = url.slice(5, end);
  return SERVER_NAME_RE.test(name) ? name : null;
}

/**
 * Audit + metrics for every hit; a refused MCP request also counts in
 * portcullis_mcp_requests_total (outcome rate_limited) when its server exists.
 * Store failures are logged (limits fail open).
 */
export function rateLimitHooks(audit: AuditSink, metrics: Metrics, logger: Logger, isServer: (name: string) => boolean = () => false): RateLimitHooks {
  let lastError = 0;
  return {
    onRefused(h) {
      if (h.server && isServer(h.server)) metrics.mcpRequest(h.server, null, 'rate_limited');
    },
    onHit(h) {
      metrics.rateLimitHit(h.dimension);
      const p = h.principal;
      audit.record({
        action: 'rate_limit.hit',
        actor: p?.id ?? null,
        actorType: p?.type ?? 'anonymous',
        tokenId: p?.tokenId ?? null,
        server: h.server ?? null,
        ip: h.ip,
        status: 429,
        detail: { dimension: h.dimension, ...(h.group !== undefined ? { group: h.group } : {}), limit: h.limit, retry_after_s: Math.max(1, Math.ceil(h.resetMs / 1000)) },
      });
    },
    onError(err, dimension) {
      const t = Date.now();
      if (t - lastError < 10_000) return;
      lastError = t;
      logger.warn({ err, dimension }, 'rate limit store failed; request allowed');
    },
  };
}

function applyHeaders(reply: FastifyReply, s: RateState): void {
  const h = rateLimitHeaders(s);
  reply.header('RateLimit-Limit', h['RateLimit-Limit']);
  reply.header('RateLimit-Remaining', h['RateLimit-Remaining']);
  reply.header('RateLimit-Reset', h['RateLimit-Reset']);
}

/** Send a 429 in the shape the path expects (JSON-RPC on /mcp, problem+json elsewhere). */
export function sendRateLimited(req: FastifyRequest, reply: FastifyReply, err: GatewayError): FastifyReply {
  if (isMcpPath(req.url)) return reply.code(err.status).headers(err.headers).type('application/json').send(toJsonRpc(err, null));
  throw err;
}

/** Install the client-address + per-IP/global step on every request. */
export function installRateLimits(app: FastifyInstance, limits: RateLimits, clientIp: ClientIpResolver): void {
  app.decorateRequest('clientIp', undefined);
  app.decorateRequest('rateState', null);
  app.decorateRequest('rateExempt', false);
  app.addHook('onRequest', async (req, reply) => {
    const ip = clientIp(req.raw);
    req.clientIp = ip;
    if (!isLimitedPath(req.url)) return;
    if (limits.isExempt(ip)) {
      req.rateExempt = true;
      return;
    }
    if (!limits.hasAnonymousRules) return;
    try {
      const state = await limits.checkAnonymous(ip, mcpServerOf(req.url));
      if (state) {
        req.rateState = state;
        applyHeaders(reply, state);
      }
    } catch (e) {
      if (e instanceof GatewayError && e.code === 'rate_limited') return sendRateLimited(req, reply, e);
      throw e;
    }
  });
}

/**
 * The post-authentication step on its own, for routes that authenticate
 * themselves (the MCP route): checks the principal's budgets, sets
 * RateLimit-* headers, throws GatewayError `rate_limited`.
 */
export async function applyPrincipalLimits(req: FastifyRequest, reply: FastifyReply | undefined, limits: RateLimits, clientIp: ClientIpResolver): Promise<void> {
  if (req.rateExempt || !req.principal) return;
  const ip = req.clientIp ?? clientIp(req.raw);
  if (!req.clientIp && limits.isExempt(ip)) return;
  const state = await limits.checkPrincipal(req.principal, ip, mcpServerOf(req.url));
  if (state) {
    const t = tighter(req.rateState ?? null, state);
    req.rateState = t;
    if (reply && t) applyHeaders(reply, t);
  }
}

type Authenticate = (req: FastifyRequest, reply?: FastifyReply) => Promise<void>;

/**
 * Wrap the authentication step so the principal's budgets are checked right
 * after it succeeds. Throws GatewayError `rate_limited` (callers on /mcp map
 * it to JSON-RPC with toJsonRpc).
 */
export function withRateLimits(authenticate: Authenticate, limits: RateLimits, clientIp: ClientIpResolver): Authenticate {
  return async function authenticateAndLimit(req: FastifyRequest, reply?: FastifyReply): Promise<void> {
    await authenticate(req, reply);
    await applyPrincipalLimits(req, reply, limits, clientIp);
  };
}
