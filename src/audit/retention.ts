import { type Logger } from '../lib/logger.js';
import { PeriodicJob } from '../lib/periodic.js';
import { now } from '../lib/time.js';
import { type Store } from '../store/index.js';

export const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Audit retention: deletes events older than `audit.retention` once at start
 * and then every hour. Every replica prunes; the deletes are idempotent.
 */
export class AuditRetention {
  private readonly job: PeriodicJob<number>;

  constructor(
    private readonly store: Store,
    private readonly retentionMs: number,
    private readonly logger: Logger,
    intervalMs = PRUNE_INTERVAL_MS,
  ) {
    this.job = new PeriodicJob(() => this.prune(), 0, (err) => logger.error({ err }, 'audit pruning failed'), intervalMs);
  }

  /** The prune started by start(), for callers that want to wait for it. */
  get initial(): Promise<number> {
    return this.job.initial;
  }

  start(): void {
    this.job.start();
  }

  /** Delete what is past retention now; never throws (failures are logged). */
  pruneNow(): Promise<number> {
    return this.job.runNow();
  }

  close(): Promise<void> {
    return this.job.close();
  }

  private async prune(): Promise<number> {
    const before = new Date(now() - this.retentionMs).toISOString();
    const n = await this.store.audit.prune(before);
    if (n > 0) this.logger.info({ deleted: n, before }, 'audit events pruned');
    return n;
  }
}
