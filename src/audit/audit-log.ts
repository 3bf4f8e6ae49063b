import { uuidv7 } from '../lib/crypto.js';
import { writeStdout } from '../lib/stdout.js';
import { nowIso } from '../lib/time.js';
import { type Logger } from '../lib/logger.js';
import { type Store } from '../store/index.js';
import { publicAuditEvent } from './format.js';
import { type AuditEvent, type AuditSink } from './types.js';

/**
 * Under load a flush starts every this many events. SQLite writes on the event
 * loop, so small batches keep each pause short (~1 ms) instead of stalling
 * every request in flight for one long transaction; the per-transaction cost
 * is small next to the per-row one.
 */
const FLUSH_BATCH = 100;

export interface AuditLogOptions {
  enabled: boolean;
  stdout: boolean;
  queueSize: number;
  flushIntervalMs: number;
}

/**
 * Non-blocking audit writer: `record` appends to a bounded in-memory queue and
 * returns; a timer writes the queue to the store in batches (and, with
 * `audit.stdout`, as JSON lines to stdout, whatever the store write does).
 * When the queue is full the event is counted in `dropped` (and the
 * `portcullis_audit_dropped_total` metric through `onDrop`) and a warning is
 * logged (at most every 10 s), never silently lost. Work that must not run
 * unaudited (MCP messages) first holds places with `reserve`: those events
 * are never dropped, and the work is refused when the places are not there.
 */
export class AuditLog implements AuditSink {
  private queue: (AuditEvent & { id: string; ts: string })[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastDropWarning = 0;
  /** Places held by `reserve` and not yet used: they count as taken. */
  private reserved = 0;
  dropped = 0;
  written = 0;
  /** Called with the number of events lost (metrics hook). */
  onDrop: (count: number) => void = () => {};

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly opts: AuditLogOptions,
    private readonly stdoutWrite: (line: string) => void = writeStdout,
  ) {}

  start(): void {
    if (!this.opts.enabled) return;
    this.timer ??= setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.timer.unref();
  }

  reserve(n: number): boolean {
    if (!this.opts.enabled) return true;
    if (this.queue.length + this.reserved + n > this.opts.queueSize) return false;
    this.reserved += n;
    return true;
  }

  release(n: number): void {
    this.reserved = Math.max(0, this.reserved - n);
  }

  record(e: AuditEvent, reserved = false): void {
    if (!this.opts.enabled) return;
    if (reserved && this.reserved > 0) this.reserved--;
    else if (this.queue.length + this.reserved >= this.opts.queueSize) {
      this.dropped++;
      this.onDrop(1);
      const t = Date.now();
      if (t - this.lastDropWarning > 10_000) {
        this.lastDropWarning = t;
        this.logger.warn({ dropped_total: this.dropped, queue_size: this.opts.queueSize }, 'audit queue full: events dropped');
      }
      return;
    }
    // Stamped in place (the sink owns the event; see AuditSink.record): no copy per request.
    const stamped = e as AuditEvent & { id: string; ts: string };
    stamped.id = uuidv7();
    stamped.ts = nowIso();
    this.queue.push(stamped);
    if (this.queue.length >= this.batchSize && !this.flushing) void this.flush();
  }

  private get batchSize(): number {
    return Math.min(FLUSH_BATCH, this.opts.queueSize);
  }

  /** Write everything queued so far. Safe to call concurrently. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.flushing = (async () => {
      // The write itself waits for the check phase: the request whose event filled the batch (and
      // every other callback of this turn) gets its response out before SQLite holds the event loop.
      await new Promise<void>((r) => setImmediate(r));
      if (this.opts.stdout) {
        try {
          this.stdoutWrite(batch.map((e) => JSON.stringify({ type: 'audit', ...publicAuditEvent(e) })).join('\n') + '\n');
        } catch (err) {
          this.logger.error({ err }, 'failed to write audit events to stdout');
        }
      }
      try {
        await this.store.audit.insertMany(batch);
        this.written += batch.length;
      } catch (err) {
        this.dropped += batch.length;
        this.onDrop(batch.length);
        this.logger.error({ err, lost: batch.length }, 'failed to write audit events');
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
    // A batch's worth arrived while this one was being written (PostgreSQL answers asynchronously):
    // write it now rather than wait for the next event or tick.
    if (this.queue.length >= this.batchSize) void this.flush();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
