/**
 * A job run once at start and then every `intervalMs` (housekeeping: audit
 * retention, expired login sessions). Never two runs at once: a run asked
 * for while one is going joins it. Failures are reported to `onError` and
 * never thrown. The timer is unref'd, so it never keeps the process alive.
 */
export class PeriodicJob<T> {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<T> | null = null;
  /** The run started by start(), for callers that want to wait for it. */
  initial: Promise<T>;

  constructor(
    private readonly run: () => Promise<T>,
    /** What a failed run resolves to. */
    private readonly onFailure: T,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs: number,
  ) {
    this.initial = Promise.resolve(onFailure);
  }

  start(): void {
    if (this.timer) return;
    this.initial = this.runNow();
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Run now (or join the run in progress); never rejects. */
  runNow(): Promise<T> {
    this.running ??= this.run()
      .catch((err: unknown) => {
        this.onError(err);
        return this.onFailure;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Stop the timer and wait for a run in progress. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
