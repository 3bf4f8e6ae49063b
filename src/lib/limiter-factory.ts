import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Where a limiter keeps its counters. Request rate limits (ratelimit/) and
 * login throttling (auth/) both take one, so a single factory per app decides
 * whether every counter lives in this process or in Redis.
 */
export type LimiterFactory = (opts: { keyPrefix: string; points: number; duration: number }) => RateLimiterAbstract;

/** Counters in this process's memory. */
export const memoryLimiterFactory: LimiterFactory = (o) => new RateLimiterMemory(o);
