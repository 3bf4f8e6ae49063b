import { type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../errors/index.js';
import { memoryLimiterFactory, type LimiterFactory } from '../lib/limiter-factory.js';

export interface ThrottleRule {
  requests: number;
  per: number; // ms
}

/**
 * Brute-force throttling for logins: failed attempts count per account and per
 * client IP; when either budget is spent, further attempts get 429 without a
 * password check. A success clears the account's counter.
 */
export class LoginThrottle {
  private readonly perAccount: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;

  constructor(
    rules: { per_account: ThrottleRule; per_ip: ThrottleRule },
    factory: LimiterFactory = memoryLimiterFactory,
    /** Told about every refused attempt (audit `rate_limit.hit`, metrics). */
    private readonly onThrottled: (e: { scope: 'account' | 'ip'; ip: string; retryAfterMs: number }) => void = () => {},
    /** Counter namespace, so two throttles on one shared (Redis) store never mix their keys. */
    name = 'login',
  ) {
    this.perAccount = factory({ keyPrefix: `${name}_acct`, points: rules.per_account.requests, duration: Math.ceil(rules.per_account.per / 1000) });
    this.perIp = factory({ keyPrefix: `${name}_ip`, points: rules.per_ip.requests, duration: Math.ceil(rules.per_ip.per / 1000) });
  }

  /** Throw 429 when the account or the IP has no attempts left. */
  async check(account: string, ip: string): Promise<void> {
    const [a, i] = await Promise.all([this.perAccount.get(account.toLowerCase()), this.perIp.get(ip)]);
    const blocked = [
      a && a.consumedPoints >= this.perAccount.points ? a.msBeforeNext : 0,
      i && i.consumedPoints >= this.perIp.points ? i.msBeforeNext : 0,
    ];
    const wait = Math.max(...blocked);
    if (wait > 0) {
      this.onThrottled({ scope: blocked[0] >= blocked[1] ? 'account' : 'ip', ip, retryAfterMs: wait });
      throw new GatewayError('login_throttled', {
        detail: 'Too many failed login attempts; try again later',
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(wait / 1000))) },
      });
    }
  }

  async failure(account: string, ip: string): Promise<void> {
    await Promise.all([
      this.perAccount.penalty(account.toLowerCase(), 1).catch(() => undefined),
      this.perIp.penalty(ip, 1).catch(() => undefined),
    ]);
  }

  async success(account: string): Promise<void> {
    await this.perAccount.delete(account.toLowerCase()).catch(() => undefined);
  }
}
