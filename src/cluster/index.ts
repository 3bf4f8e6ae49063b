/**
 * What a replica shares with the others: with `redis` configured, a Redis
 * connection set (rate limits, readiness) and the Redis invalidation bus;
 * without it, the in-process bus only (one replica). The opening itself is
 * in open.ts, which loads the Redis client only when Redis is configured.
 */
export { RedisConnections, createRedisClient, redisEndpoint, type RedisSettings } from './redis.js';
export { RedisBus, decodeMessage, type RedisBusOptions } from './redis-bus.js';
export { ChangeFeedBus, consumerAliveMs, type ChangeFeedOptions } from './change-feed.js';
export { openCluster, type Cluster, type ClusterOptions } from './open.js';
