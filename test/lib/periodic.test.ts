import { describe, expect, it, vi } from 'vitest';
import { PeriodicJob } from '../../src/lib/periodic.js';

describe('PeriodicJob', () => {
  it('runs at start, then on an unref timer; a failed run reports and resolves to the fallback', async () => {
    let n = 0;
    const errors: unknown[] = [];
    const job = new PeriodicJob(
      async () => {
        n++;
        if (n === 2) throw new Error('store down');
        return n;
      },
      -1,
      (e) => errors.push(e),
      20,
    );
    job.start();
    expect(await job.initial).toBe(1);
    await vi.waitFor(() => expect(n).toBeGreaterThanOrEqual(3), { timeout: 2000, interval: 10 });
    expect(errors).toHaveLength(1);
    expect((job as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
    await job.close();
  });

  it('a run asked for while one is going joins it', async () => {
    let release!: () => void;
    let runs = 0;
    const job = new PeriodicJob(() => new Promise<number>((r) => ((runs++, (release = () => r(runs))))), 0, () => {}, 60_000);
    const a = job.runNow();
    const b = job.runNow();
    expect(a).toBe(b);
    release();
    expect(await a).toBe(1);
    expect(runs).toBe(1);
    await job.close();
  });
});
