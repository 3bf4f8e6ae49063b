/**
 * The change feed: cache invalidations through the store, for processes that
 * share a store but not a Redis (the local CLI next to a running gateway, or
 * replicas without Redis).
 *
 * Every process that changes something appends its invalidation events to
 * the `change_feed` table (batched, right after the change). Gateways poll
 * the table once a second and deliver the events other processes wrote to
 * their local subscribers — the same invalidations the Redis bus delivers —
 * so a `users disable` made with the CLI applies to that user's next request
 * within about a second.
 *
 * With Redis configured both run: Redis delivers at once, the feed is the
 * safety net (a CLI configured without Redis, a Redis outage). An event that
 * arrives both ways is applied twice, which is harmless: invalidations are
 * idempotent. Rows older than `retainMs` are pruned; a gateway that could not
 * poll for longer than half of that flushes its caches instead.
 *
 * Gateways also record a heartbeat, so a CLI can tell whether anything is
 * listening (and say so when nothing is).
 */
import { type Logger } from '../lib/logger.js';
import { type Bus, type InvalidationEvent, type InvalidationHandler } from '../lib/bus.js';
import { type ChangeFeedStore } from '../store/change-feed.js';
import { decodeMessage } from './redis-bus.js';

export interface ChangeFeedOptions {
  /** Poll the feed and deliver others' events (gateways); off: only write (the CLI). */
  poll: boolean;
  /** Poll interval (default 1 s). */
  pollMs?: number;
  /** How long rows are kept (default 10 min). */
  retainMs?: number;
  /** Heartbeat interval of a polling gateway (default 5 s). */
  heartbeatMs?: number;
}

/** A consumer counts as alive when its heartbeat is at most this old (three intervals). */
export const consumerAliveMs = (heartbeatMs = 5_000) => heartbeatMs * 3;

const PAGE = 500;

export class ChangeFeedBus implements Bus {
  private readonly handlers = new Set<InvalidationHandler>();
  private pending: InvalidationEvent[] = [];
  private writing: Promise<void> = Promise.resolve();
  private writeScheduled = false;
  private cursor = 0;
  private lastPollOk = Date.now();
  private lastPrune = 0;
  private lastHeartbeat = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  /** Events this process could not write to the feed (other processes may not see them). */
  writeFailures = 0;
  /** Events delivered from other processes (tests, metrics). */
  received = 0;
  private readonly opts: Required<ChangeFeedOptions>;

  private constructor(
    private readonly inner: Bus,
    private readonly store: ChangeFeedStore,
    private readonly origin: string,
    private readonly logger: Logger,
    opts: ChangeFeedOptions,
  ) {
    this.opts = { pollMs: 1_000, retainMs: 600_000, heartbeatMs: 5_000, ...opts };
  }

  static async start(inner: Bus, store: ChangeFeedStore, origin: string, logger: Logger, opts: ChangeFeedOptions): Promise<ChangeFeedBus> {
    const bus = new ChangeFeedBus(inner, store, origin, logger, opts);
    if (opts.poll) {
      bus.cursor = await store.head(); // caches start empty: nothing older matters
      await store.heartbeat(origin);
      bus.lastHeartbeat = Date.now();
      bus.timer = setInterval(() => void bus.pollOnce(), bus.opts.pollMs);
      bus.timer.unref();
    }
    return bus;
  }

  publish(e: InvalidationEvent): void {
    this.inner.publish(e);
    if (e.kind === 'flush' || this.closed) return; // a flush is about this process's own caches
    this.pending.push(e);
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    // Batch what one operation publishes (a user deletion publishes several events) into one append.
    setImmediate(() => {
      this.writeScheduled = false;
      const batch = this.pending;
      this.pending = [];
      this.writing = this.writing.then(() => this.write(batch));
    });
  }

  subscribe(fn: InvalidationHandler): () => void {
    this.handlers.add(fn);
    const off = this.inner.subscribe(fn);
    return () => {
      this.handlers.delete(fn);
      off();
    };
  }

  /** Resolves once every event published so far is in the feed (or failed). */
  async flushWrites(): Promise<void> {
    while (this.writeScheduled || this.pending.length) await new Promise((r) => setImmediate(r));
    await this.writing;
  }

  /** Gateways that polled the feed recently (a CLI asks before it exits). */
  async liveConsumers(): Promise<string[]> {
    return this.store.consumers(new Date(Date.now() - consumerAliveMs(this.opts.heartbeatMs)).toISOString());
  }

  private async write(batch: InvalidationEvent[]): Promise<void> {
    try {
      await this.store.append(
        this.origin,
        batch.map((e) => JSON.stringify({ v: 1, r: this.origin, e })),
      );
    } catch (err) {
      this.writeFailures += batch.length;
      this.logger.warn({ err: { message: (err as Error).message }, events: batch.length }, 'failed to write cache invalidations to the change feed');
    }
  }

  /** One poll at a time: a slow store never stacks polls. */
  private pollOnce(): Promise<void> {
    this.polling ??= this.poll().finally(() => (this.polling = null));
    return this.polling;
  }

  /** Poll now (tests; the timer does it every pollMs). */
  pollNow(): Promise<void> {
    return this.pollOnce();
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    try {
      let rows;
      do {
        rows = await this.store.after(this.cursor, PAGE);
        for (const row of rows) {
          this.cursor = row.seq;
          if (row.origin === this.origin) continue;
          const m = decodeMessage(row.event);
          if (!m || m.e.kind === 'flush') {
            this.logger.warn({ seq: row.seq }, 'ignored a malformed change feed entry');
            continue;
          }
          this.received++;
          this.deliver(m.e);
        }
      } while (rows.length === PAGE && !this.closed);
      const now = Date.now();
      // Rows we never read may have been pruned meanwhile: forget everything cached.
      if (now - this.lastPollOk > this.opts.retainMs / 2) this.deliver({ kind: 'flush' });
      this.lastPollOk = now;
      if (now - this.lastHeartbeat >= this.opts.heartbeatMs) {
        this.lastHeartbeat = now;
        await this.store.heartbeat(this.origin);
      }
      if (now - this.lastPrune >= 60_000) {
        this.lastPrune = now;
        await this.store.prune(new Date(now - this.opts.retainMs).toISOString());
      }
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'change feed poll failed; retrying');
    }
  }

  private deliver(e: InvalidationEvent): void {
    for (const h of this.handlers) {
      try {
        h(e);
      } catch (err) {
        this.logger.error({ err, kind: e.kind }, 'an invalidation handler failed');
      }
    }
  }

  /** Stop polling and writing (pending writes finish first); the wrapped bus stays open. */
  async detach(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushWrites();
    this.closed = true;
    await this.polling;
    if (this.opts.poll) await this.store.leave(this.origin).catch(() => undefined);
    this.handlers.clear();
  }

  /** detach(), then close the wrapped bus. */
  async close(): Promise<void> {
    await this.detach();
    await this.inner.close();
  }
}
