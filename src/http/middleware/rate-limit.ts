/**
 * Rate limits on the HTTP surface. Two steps:
 *  1. every route of a limited class gets, as its first `onRequest` step
 *     (before authentication, before the body is read), the client-address
 *     resolution and the per-IP and global budgets. The class is the
 *     route's own (route config `requestLimits`, else derived from the
 *     route's pattern: `/api/*` and `/oauth/*` → `api`, `/mcp/*` → `mcp`,
 *     anything else `none`), so whatever spelling of a path reaches a route
 *     meets that route's limits;
 *  2. `withRateLimits(authenticate)` checks the per-token, per-user and
 *     per-group budgets right after a successful authentication (the MCP
 *     handler calls applyPrincipalLimits itself).
 * A refused request gets 429 with `Retry-After` and `RateLimit-*`, in the
 * shape of its route's error handler (problem+json `rate_limited` on the
 * API, a JSON-RPC error -32029 on /mcp). Successful responses carry
 * `RateLimit-*` of the tightest budget applied.
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest, type onRequestAsyncHookHandler } from 'fastify';
import { type AuditSink } from '../../audit/types.js';
import { SERVER_NAME_RE } from '../../config/schema.js';
import { type Metrics } from '../../metrics/index.js';
import { rateLimitHeaders, tighter, type RateLimitHooks, type RateLimits, type RateState } from '../../ratelimit/index.js';
import { type Logger } from '../../lib/logger.js';
import { type ClientIpResolver } from '../client-ip.js';

/** Which request limits a route's requests count against: the API's, the MCP endpoint's (with its server), or none. */
export type LimitClass = 'api' | 'mcp' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's request-limit class; default from its pattern (limitClassOf). */
    requestLimits?: LimitClass;
  }
  interface FastifyRequest {
    /** Client address (XFF honoured only from trusted proxies); set by the limit step. */
    clientIp?: string;
    /** Tightest rate-limit budget applied so far (for RateLimit-* headers). */
    rateState?: RateState | null;
    /** The client address is in `rate_limits.exempt`. */
    rateExempt?: boolean;
  }
}

/** The class of a route pattern that does not name one. Health, metrics and discovery documents are never limited. */
export function limitClassOf(pattern: string): LimitClass {
  if (pattern === '/mcp' || pattern.startsWith('/mcp/')) return 'mcp';
  if (pattern.startsWith('/api/') || pattern.startsWith('/oauth/') || pattern === '/login' || pattern === '/logout') return 'api';
  return 'none';
}

/** The MCP server a request names (`/mcp/:server`), when well-formed (never an arbitrary string). */
function serverOf(req: FastifyRequest): string | null {
  const name = (req.params as { server?: unknown } | undefined)?.server;
  return typeof name === 'string' && SERVER_NAME_RE.test(name) ? name : null;
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

/** The first step of a limited route: client address, then the per-IP and global budgets. */
function addressLimitStep(limits: RateLimits, clientIp: ClientIpResolver, cls: LimitClass): onRequestAsyncHookHandler {
  return async function limitByAddress(req, reply) {
    const ip = clientIp(req.raw);
    req.clientIp = ip;
    if (limits.isExempt(ip)) {
      req.rateExempt = true;
      return;
    }
    if (!limits.hasAnonymousRules) return;
    const state = await limits.checkAnonymous(ip, cls === 'mcp' ? serverOf(req) : null);
    if (state) {
      req.rateState = state;
      applyHeaders(reply, state);
    }
  };
}

/** Give every route of a limited class its address step, ahead of its own onRequest steps. */
export function installRateLimits(app: FastifyInstance, limits: RateLimits, clientIp: ClientIpResolver): void {
  app.decorateRequest('clientIp', undefined);
  app.decorateRequest('rateState', null);
  app.decorateRequest('rateExempt', false);
  const steps = { api: addressLimitStep(limits, clientIp, 'api'), mcp: addressLimitStep(limits, clientIp, 'mcp') };
  app.addHook('onRoute', (route) => {
    const cls = route.config?.requestLimits ?? limitClassOf(route.url);
    if (cls === 'none') return;
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat();
    // A HEAD route fastify derives from a GET route arrives with the GET's steps.
    if (own.includes(steps[cls])) return;
    route.onRequest = [steps[cls], ...own];
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
  const state = await limits.checkPrincipal(req.principal, ip, serverOf(req));
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
