/**
 * Redis connections for a replica: one shared command connection (rate limits,
 * readiness PING, publishing invalidations) and dedicated connections for
 * blocking/subscriber use. Everything that talks to Redis gets its connection
 * here, so reconnect policy, timeouts, naming and logging are the same
 * everywhere, and the URL (which may carry a password) is never logged.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { type Logger } from '../lib/logger.js';

export interface RedisSettings {
  url: string;
  key_prefix: string;
}

/** How long a command may wait for a (re)connection before it fails. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Reconnect back-off: 50 ms, 100 ms, ... capped at 2 s, forever. */
const retryStrategy = (times: number): number => Math.min(times * 50, 2_000);

/** The host:port part of a Redis URL, for logs (no credentials). */
export function redisEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(invalid redis url)';
  }
}

export interface RedisClientOptions {
  /** Connection name shown in `CLIENT LIST` (portcullis:<role>:<replica>). */
  name: string;
  /**
   * Queue commands while disconnected (true, the default) or fail them at once
   * (false: what rate limiting wants, so a Redis outage never stalls requests).
   */
  offlineQueue?: boolean;
  /** Fail a queued command after this many reconnect attempts (null: never). */
  maxRetriesPerRequest?: number | null;
}

/** One ioredis connection with the gateway's policy. Connects at once (not lazily). */
export function createRedisClient(settings: RedisSettings, logger: Logger, opts: RedisClientOptions): Redis {
  const options: RedisOptions = {
    connectionName: opts.name.replace(/[^A-Za-z0-9:._-]/g, '_'),
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableOfflineQueue: opts.offlineQueue ?? true,
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 3 : opts.maxRetriesPerRequest,
    retryStrategy,
    // A failover replica answers READONLY: reconnect to find the new primary.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    lazyConnect: false,
  };
  const client = new Redis(settings.url, options);
  const endpoint = redisEndpoint(settings.url);
  let down = false;
  client.on('error', (err: Error & { code?: string }) => {
    // ioredis emits an error per failed attempt; log once per outage.
    if (!down) logger.warn({ redis: endpoint, connection: opts.name, code: err.code }, 'redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ redis: endpoint, connection: opts.name }, 'redis connection restored');
    down = false;
  });
  return client;
}

/**
 * The replica's Redis connections. `client` is shared by everything that sends
 * ordinary commands (rate limiters, PING, PUBLISH); `dedicated()` opens another
 * one for subscriber mode. `close()` quits all of them.
 */
export class RedisConnections {
  readonly keyPrefix: string;
  readonly client: Redis;
  private readonly extra = new Set<Redis>();

  constructor(
    private readonly settings: RedisSettings,
    private readonly logger: Logger,
    readonly replicaId: string,
  ) {
    this.keyPrefix = settings.key_prefix;
    this.client = createRedisClient(settings, logger, { name: `portcullis:cmd:${replicaId}`, offlineQueue: true, maxRetriesPerRequest: 1 });
  }

  /** A new connection owned by these connections (closed with them). */
  dedicated(role: string, opts: Omit<RedisClientOptions, 'name'> = {}): Redis {
    const c = createRedisClient(this.settings, this.logger, { ...opts, name: `portcullis:${role}:${this.replicaId}` });
    this.extra.add(c);
    return c;
  }

  /** Readiness: PING on the shared connection, bounded by a timeout. */
  async ping(timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
    if (this.client.status !== 'ready') throw new Error(`redis not connected (${this.client.status})`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const reply = await Promise.race([
        this.client.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
        }),
      ]);
      if (reply !== 'PONG') throw new Error('unexpected redis ping reply');
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait until the shared connection is ready (start-up), or fail after `timeoutMs`. */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`redis at ${redisEndpoint(this.settings.url)} not reachable within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
      };
      this.client.on('ready', onReady);
    });
  }

  async close(): Promise<void> {
    const all = [...this.extra, this.client];
    this.extra.clear();
    await Promise.all(
      all.map(async (c) => {
        if (c.status === 'end') return;
        try {
          // QUIT waits for pending replies; disconnect if Redis is unreachable.
          if (c.status === 'ready') await Promise.race([c.quit(), new Promise((r) => setTimeout(r, 1_000).unref())]);
        } catch {
          /* closing anyway */
        }
        c.disconnect();
      }),
    );
  }
}
