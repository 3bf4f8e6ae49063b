/**
 * Request rate limits (SPEC §6): per client IP and global (checked before
 * authentication), per API token, per user and per group (checked once the
 * principal is known). One limiter per rule, built at start; the per-token
 * limiter is a single counter per token whose budget is the token's own
 * `rate_limit_per_hour`, so tokens with different limits share one limiter.
 *
 * Plain values in and out: no HTTP here. A hit becomes a GatewayError
 * `rate_limited` carrying `Retry-After` and `RateLimit-*` headers.
 */
import { type RateLimiterAbstract, type RateLimiterRes } from 'rate-limiter-flexible';
import { type Principal } from '../auth/principal.js';
import { type Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { cidrList, type CidrList } from '../lib/cidr.js';
import { type LimiterFactory } from '../lib/limiter-factory.js';

export type RateDimension = 'ip' | 'global' | 'token' | 'user' | 'group';

export const RATE_DIMENSIONS: readonly RateDimension[] = ['ip', 'global', 'token', 'user', 'group'];

/** What one rule says about the current request. */
export interface RateState {
  dimension: RateDimension;
  /** Group name for `group` rules. */
  group?: string;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/** One limit hit, for audit and metrics (no secrets: ids, names, addresses). */
export interface RateLimitHit extends RateState {
  ip: string;
  principal: Principal | null;
  /** MCP server the request was for, when known. */
  server: string | null;
}

export interface RateLimitHooks {
  onHit?(hit: RateLimitHit): void;
  /** Once per refused request, with the rule reported to the client. */
  onRefused?(hit: RateLimitHit): void;
  /** The backing store failed (the request is allowed: limits fail open). */
  onError?(err: unknown, dimension: RateDimension): void;
}

interface Rule {
  dimension: RateDimension;
  group?: string;
  limiter: RateLimiterAbstract;
  /** Budget per window; for the token rule it comes from the principal. */
  points: number;
}

type RateLimitConfig = Config['rate_limits'];

const TOKEN_WINDOW_S = 3600;
/** The per-token limiter never rejects by itself; budgets are checked per token. */
const UNBOUNDED = 2 ** 31 - 1;

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class RateLimits {
  private readonly ipRule: Rule | null;
  private readonly globalRule: Rule | null;
  private readonly userRule: Rule | null;
  private readonly groupRules: Map<string, Rule>;
  private readonly tokenLimiter: RateLimiterAbstract;
  private readonly tokenDefault: number | null;
  private readonly exempt: CidrList;

  constructor(
    cfg: RateLimitConfig,
    factory: LimiterFactory,
    private readonly hooks: RateLimitHooks = {},
  ) {
    const make = (dimension: RateDimension, rule: { requests: number; per: number } | undefined, keyPrefix: string, group?: string): Rule | null =>
      rule
        ? { dimension, group, points: rule.requests, limiter: factory({ keyPrefix, points: rule.requests, duration: seconds(rule.per) }) }
        : null;
    this.ipRule = make('ip', cfg.per_ip, 'rl_ip');
    this.globalRule = make('global', cfg.global, 'rl_global');
    this.userRule = make('user', cfg.per_user, 'rl_user');
    this.groupRules = new Map();
    for (const [name, rule] of Object.entries(cfg.per_group ?? {})) this.groupRules.set(name, make('group', rule, `rl_group_${name}`, name)!);
    this.tokenDefault = cfg.per_token?.default_per_hour ?? null;
    this.tokenLimiter = factory({ keyPrefix: 'rl_token', points: UNBOUNDED, duration: TOKEN_WINDOW_S });
    this.exempt = cidrList(cfg.exempt);
  }

  /** Exempt addresses skip every request limit (not login throttling). */
  isExempt(ip: string): boolean {
    return this.exempt.contains(ip);
  }

  get hasAnonymousRules(): boolean {
    return this.ipRule !== null || this.globalRule !== null;
  }

  /**
   * Before authentication: per-IP and global. Resolves to the tightest state
   * (for RateLimit-* headers) or null when no rule applies; throws
   * `rate_limited` when a budget is spent.
   */
  async checkAnonymous(ip: string, server: string | null = null): Promise<RateState | null> {
    const ipRule = this.ipRule;
    const globalRule = this.globalRule;
    if (!ipRule && !globalRule) return null;
    if (ipRule && globalRule) {
      const [a, b] = await Promise.all([this.consume(ipRule, ip), this.consume(globalRule, 'all')]);
      return this.settle([a, b], ip, null, server);
    }
    const r = ipRule ? await this.consume(ipRule, ip) : await this.consume(globalRule!, 'all');
    return this.settle([r], ip, null, server);
  }

  /** After authentication: per token, per user, per group. Same contract as checkAnonymous. */
  async checkPrincipal(p: Principal, ip: string, server: string | null = null): Promise<RateState | null> {
    const pending: Promise<Outcome>[] = [];
    const tokenBudget = p.rateLimitPerHour ?? (p.method === 'api_token' ? this.tokenDefault : null);
    if (tokenBudget !== null && p.tokenId) pending.push(this.consumeToken(p.tokenId, tokenBudget));
    if (this.userRule) pending.push(this.consume(this.userRule, p.id));
    if (this.groupRules.size) for (const g of p.groups) {
      const rule = this.groupRules.get(g);
      if (rule) pending.push(this.consume(rule, g));
    }
    if (pending.length === 0) return null;
    return this.settle(await Promise.all(pending), ip, p, server);
  }

  private consume(rule: Rule, key: string): Promise<Outcome> {
    return rule.limiter.consume(key).then(
      (res) => outcome(rule, res, rule.points, false),
      (err: unknown) => {
        if (isRes(err)) return outcome(rule, err, rule.points, true);
        this.hooks.onError?.(err, rule.dimension);
        return null;
      },
    );
  }

  private consumeToken(tokenId: string, budget: number): Promise<Outcome> {
    const rule: Rule = { dimension: 'token', limiter: this.tokenLimiter, points: budget };
    return this.tokenLimiter.consume(tokenId).then(
      (res) => outcome(rule, res, budget, res.consumedPoints > budget),
      (err: unknown) => {
        if (isRes(err)) return outcome(rule, err, budget, true);
        this.hooks.onError?.(err, 'token');
        return null;
      },
    );
  }

  private settle(outcomes: Outcome[], ip: string, principal: Principal | null, server: string | null): RateState | null {
    let tightest: RateState | null = null;
    let worst: RateState | null = null;
    for (const o of outcomes) {
      if (!o) continue;
      if (o.rejected) {
        this.hooks.onHit?.({ ...o.state, ip, principal, server });
        if (!worst || o.state.resetMs > worst.resetMs) worst = o.state;
      } else if (!tightest || o.state.remaining < tightest.remaining || (o.state.remaining === tightest.remaining && o.state.limit < tightest.limit)) {
        tightest = o.state;
      }
    }
    if (worst) {
      this.hooks.onRefused?.({ ...worst, ip, principal, server });
      throw rateLimited(worst);
    }
    return tightest;
  }
}

type Outcome = { state: RateState; rejected: boolean } | null;

function outcome(rule: Rule, res: RateLimiterRes, limit: number, rejected: boolean): Outcome {
  return {
    rejected,
    state: {
      dimension: rule.dimension,
      ...(rule.group !== undefined ? { group: rule.group } : {}),
      limit,
      remaining: Math.max(0, limit - res.consumedPoints),
      resetMs: Math.max(0, res.msBeforeNext),
    },
  };
}

const isRes = (e: unknown): e is RateLimiterRes =>
  !!e && typeof e === 'object' && !(e instanceof Error) && 'msBeforeNext' in e && 'consumedPoints' in e;

/** `RateLimit-Limit/Remaining/Reset` for a state (Reset in seconds). */
export function rateLimitHeaders(s: RateState): Record<string, string> {
  return {
    'RateLimit-Limit': String(s.limit),
    'RateLimit-Remaining': String(s.remaining),
    'RateLimit-Reset': String(seconds(s.resetMs)),
  };
}

export function rateLimited(s: RateState): GatewayError {
  const what = s.dimension === 'group' ? `group ${s.group}` : s.dimension === 'ip' ? 'client address' : s.dimension;
  return new GatewayError('rate_limited', {
    detail: `Rate limit exceeded (${what}: ${s.limit} requests per window); retry later`,
    headers: { 'Retry-After': String(seconds(s.resetMs)), ...rateLimitHeaders(s) },
  });
}

/** Pick the tighter of two states (fewest remaining, then smallest limit). */
export function tighter(a: RateState | null, b: RateState | null): RateState | null {
  if (!a) return b;
  if (!b) return a;
  if (b.remaining < a.remaining || (b.remaining === a.remaining && b.limit < a.limit)) return b;
  return a;
}
