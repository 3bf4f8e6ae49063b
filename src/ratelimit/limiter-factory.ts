/**
 * Where rate-limit counters live. One factory per app: every limiter (request
 * limits and login throttling) comes from it, so with Redis configured all of
 * them are shared by every replica.
 */
import { type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { memoryLimiterFactory, type LimiterFactory } from '../lib/limiter-factory.js';

export { memoryLimiterFactory, type LimiterFactory };

/**
 * Counters in Redis under `<prefix>rl:<limiter>:<key>`. While Redis is not
 * connected (or a command fails) each limiter falls back to an in-memory
 * "insurance" limiter with the same budget, so an outage degrades the limits
 * to per-replica instead of blocking or failing requests.
 */
export function redisLimiterFactory(client: Redis, prefix: string): LimiterFactory {
  return (o) =>
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${prefix}rl:${o.keyPrefix}`,
      points: o.points,
      duration: o.duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: o.keyPrefix, points: o.points, duration: o.duration }),
    });
}
