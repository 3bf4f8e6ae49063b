/** openCluster: the bus (Redis or in-process, wrapped by the change feed) and the Redis connections. */
import { type Config } from '../config/index.js';
import { type Logger } from '../lib/logger.js';
import { uuid } from '../lib/crypto.js';
import { LocalBus, type Bus } from '../lib/bus.js';
import { type RedisBusOptions } from './redis-bus.js';
import { type RedisConnections } from './redis.js';
import { ChangeFeedBus, type ChangeFeedOptions } from './change-feed.js';
import { type Store } from '../store/index.js';

export interface Cluster {
  /** This process's id among the replicas (also in Redis connection names and mcp_sessions.replica). */
  replicaId: string;
  redis: RedisConnections | null;
  bus: Bus;
  /** The change feed (when a store was given): events through the store, for processes without a shared Redis. */
  feed: ChangeFeedBus | null;
  /** Closes what this module opened (not a bus or connections passed in). */
  close(): Promise<void>;
}

export interface ClusterOptions {
  bus?: Bus;
  redis?: RedisConnections;
  replicaId?: string;
  busOptions?: RedisBusOptions;
  /** With a store, every published event also goes to its change feed; `feed.poll` also reads others' events. */
  store?: Store;
  feed?: ChangeFeedOptions;
}

export async function openCluster(config: Config, logger: Logger, given: ClusterOptions = {}): Promise<Cluster> {
  const replicaId = given.replicaId ?? given.redis?.replicaId ?? uuid();
  // Loaded on demand: a process without Redis (the local CLI, mostly) does not load the client.
  const redisModules = config.redis || given.redis ? await Promise.all([import('./redis.js'), import('./redis-bus.js')]) : null;
  const ownRedis = !given.redis && config.redis ? new redisModules![0].RedisConnections(config.redis, logger, replicaId) : null;
  const redis = given.redis ?? ownRedis;
  let bus: Bus;
  let ownBus: Bus | null = null;
  let feed: ChangeFeedBus | null = null;
  try {
    if (given.bus) bus = given.bus;
    else if (redis) bus = ownBus = await redisModules![1].RedisBus.start(redis, logger, given.busOptions);
    else bus = ownBus = new LocalBus();
    // Serve only once the shared command connection is up (readiness, rate limits).
    if (ownRedis) await ownRedis.ready(given.busOptions?.startTimeoutMs ?? 10_000);
    if (given.store) bus = feed = await ChangeFeedBus.start(bus, given.store.changeFeed, replicaId, logger, given.feed ?? { poll: false });
  } catch (e) {
    await ownBus?.close();
    await ownRedis?.close();
    throw e;
  }
  return {
    replicaId,
    redis,
    bus,
    feed,
    async close() {
      // The feed closes the bus it wraps: only when that bus is ours.
      if (feed) await (ownBus ? feed.close() : feed.detach());
      else await ownBus?.close();
      await ownRedis?.close();
    },
  };
}
