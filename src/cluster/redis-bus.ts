/**
 * Cluster-wide cache invalidation over Redis pub/sub.
 *
 * publish(e) delivers to this replica's subscribers at once (so the replica
 * that made a change never serves stale data, even for a moment) and then
 * PUBLISHes `{v, r: replicaId, e}` on `<key_prefix>invalidate`. Every replica
 * subscribes to that channel with a dedicated connection and delivers what
 * other replicas published; its own echo is ignored.
 *
 * Fail-safe: pub/sub is at-most-once, so while the subscriber connection is
 * down this replica may miss events. It then delivers a local `flush` at once,
 * again every `degradedFlushMs` while disconnected (so nothing it caches can
 * be staler than that), and once more after it has re-subscribed.
 */
import { type Redis } from 'ioredis';
import { type Logger } from '../lib/logger.js';
import { LocalBus, type Bus, type InvalidationEvent, type InvalidationHandler } from '../lib/bus.js';
import { type RedisConnections } from './redis.js';

const WIRE_VERSION = 1;

interface WireMessage {
  v: number;
  /** Publishing replica. */
  r: string;
  e: InvalidationEvent;
}

const KINDS: Record<InvalidationEvent['kind'], readonly string[]> = {
  user: ['id'],
  token: ['hash'],
  family: ['id'],
  groups: [],
  roles: [],
  service_account: ['id'],
  servers: [],
  session: ['id'],
  credentials: ['principal', 'server'],
  oauth_grant: ['id'],
  flush: [],
};

/** Parse and check one message from the channel; undefined when malformed. */
export function decodeMessage(raw: string): WireMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!m || typeof m !== 'object') return undefined;
  const { v, r, e } = m as Partial<WireMessage>;
  if (v !== WIRE_VERSION || typeof r !== 'string' || !e || typeof e !== 'object') return undefined;
  const fields = Object.hasOwn(KINDS, e.kind) ? KINDS[e.kind] : undefined;
  if (!fields) return undefined;
  for (const f of fields) if (typeof (e as Record<string, unknown>)[f] !== 'string') return undefined;
  return { v, r, e };
}

export interface RedisBusOptions {
  /** While the subscriber is disconnected, flush local caches this often (default 1 s). */
  degradedFlushMs?: number;
  /** How long start() waits for the subscription (default 10 s). */
  startTimeoutMs?: number;
}

export class RedisBus implements Bus {
  readonly channel: string;
  private readonly local = new LocalBus();
  private readonly sub: Redis;
  private readonly pub: Redis;
  private degradedTimer: NodeJS.Timeout | null = null;
  private subscribed = false;
  private closed = false;
  /** Events received from other replicas (tests, metrics). */
  received = 0;
  /** Local flushes delivered because events may have been missed. */
  flushes = 0;

  private constructor(
    private readonly conns: RedisConnections,
    private readonly logger: Logger,
    private readonly opts: Required<RedisBusOptions>,
  ) {
    this.channel = `${conns.keyPrefix}invalidate`;
    this.sub = conns.dedicated('sub', { offlineQueue: true, maxRetriesPerRequest: null });
    // A dedicated publisher that queues while Redis is unreachable and sends on
    // reconnect: a change made during an outage still reaches the other replicas.
    this.pub = conns.dedicated('pub', { offlineQueue: true, maxRetriesPerRequest: null });
    this.sub.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      const m = decodeMessage(raw);
      if (!m) {
        this.logger.warn({ channel }, 'ignored a malformed invalidation message');
        return;
      }
      if (m.r === this.conns.replicaId) return; // our own echo: already delivered locally
      this.received++;
      this.local.deliver(m.e);
    });
    this.sub.on('close', () => this.onSubscriberLost());
    this.sub.on('ready', () => void this.onSubscriberReady());
  }

  /** Connect, subscribe, and resolve once this replica hears the channel. */
  static async start(conns: RedisConnections, logger: Logger, opts: RedisBusOptions = {}): Promise<RedisBus> {
    const bus = new RedisBus(conns, logger, { degradedFlushMs: opts.degradedFlushMs ?? 1_000, startTimeoutMs: opts.startTimeoutMs ?? 10_000 });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        bus.sub.subscribe(bus.channel),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis not reachable within ${bus.opts.startTimeoutMs} ms`)), bus.opts.startTimeoutMs);
        }),
      ]);
    } catch (e) {
      await bus.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    bus.subscribed = true;
    return bus;
  }

  get replicaId(): string {
    return this.conns.replicaId;
  }

  /** True while the subscriber hears the channel. */
  get connected(): boolean {
    return this.subscribed && this.sub.status === 'ready';
  }

  publish(e: InvalidationEvent): void {
    this.local.deliver(e);
    if (this.closed) return;
    const msg: WireMessage = { v: WIRE_VERSION, r: this.conns.replicaId, e };
    // Queued while reconnecting (see the constructor); a failure is logged, and
    // replicas that missed the event flush when their subscriber comes back.
    this.pub.publish(this.channel, JSON.stringify(msg)).catch((err: Error) => {
      this.logger.error({ err: { message: err.message }, kind: e.kind }, 'failed to publish a cache invalidation to redis');
    });
  }

  subscribe(fn: InvalidationHandler): () => void {
    return this.local.subscribe(fn);
  }

  private flushLocal(reason: string): void {
    this.flushes++;
    this.logger.debug({ reason }, 'flushing local caches');
    this.local.deliver({ kind: 'flush' });
  }

  private onSubscriberLost(): void {
    if (this.closed || !this.subscribed || this.degradedTimer) return;
    this.logger.warn({ channel: this.channel, flush_every_ms: this.opts.degradedFlushMs }, 'redis subscriber disconnected: caches are flushed until it is back');
    this.flushLocal('subscriber disconnected');
    this.degradedTimer = setInterval(() => this.flushLocal('subscriber still disconnected'), this.opts.degradedFlushMs);
    this.degradedTimer.unref();
  }

  private async onSubscriberReady(): Promise<void> {
    if (this.closed || !this.degradedTimer) return;
    try {
      // ioredis re-subscribes on reconnect; subscribing again is idempotent and,
      // once acknowledged, proves no later event can be missed.
      await this.sub.subscribe(this.channel);
    } catch {
      return; // lost again; 'close' keeps us degraded
    }
    if (this.closed) return;
    clearInterval(this.degradedTimer);
    this.degradedTimer = null;
    this.flushLocal('subscriber reconnected');
    this.logger.info({ channel: this.channel }, 'redis subscriber reconnected; caches flushed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.degradedTimer) clearInterval(this.degradedTimer);
    this.degradedTimer = null;
    this.sub.removeAllListeners('message');
    this.sub.disconnect();
    // Let queued invalidations go out if Redis answers promptly; never hang shutdown on it.
    if (this.pub.status === 'ready') await Promise.race([this.pub.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.pub.disconnect();
    await this.local.close();
  }
}
