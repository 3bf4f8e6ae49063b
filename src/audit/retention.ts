import { type Logger } from '../lib/logger.js';
import { now } from '../lib/time.js';
import { type Store } from '../store/index.js';

export const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Audit retention: deletes events older than `audit.retention` once at start
 * and then every hour. Timers are unref'd (never keep the process alive).
 * Every replica prunes; the deletes are idempotent.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  /** The prune started by start(), for callers that want to wait for it. */
  initial: Promise<number> = Promise.resolve(0);

  constructor(
    private readonly store: Store,
    private readonly retentionMs: number,
    private readonly logger: Logger,
    private readonly intervalMs = PRUNE_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.initial = this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Delete what is past retention now; never throws (failures are logged). */
  pruneNow(): Promise<number> {
    this.running ??= (async () => {
      try {
        const before = new Date(now() - this.retentionMs).toISOString();
        const n = await this.store.audit.prune(before);
        if (n > 0) this.logger.info({ deleted: n, before }, 'audit events pruned');
        return n;
      } catch (err) {
        this.logger.error({ err }, 'audit pruning failed');
        return 0;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
