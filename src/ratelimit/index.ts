export { RateLimits, rateLimited, rateLimitHeaders, tighter, RATE_DIMENSIONS, type RateDimension, type RateLimitHit, type RateState, type RateLimitHooks } from './rate-limits.js';
export { memoryLimiterFactory, redisLimiterFactory, type LimiterFactory } from './limiter-factory.js';
