/**
 * Cell metrics (src/metrics/cells.ts) must expose exactly what prom-client's
 * own Counter and Histogram expose for the same observations: dashboards and
 * alerts must not see a difference.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CellCounter, CellHistogram } from '../src/metrics/cells.js';

const BUCKETS = [0.000025, 0.0005, 0.01, 1, 60];
const VALUES = [0, 0.000025, 0.00002500001, 0.0003, 0.01, 0.5, 1, 59.9, 60, 61, 1e6];

describe('cell metrics', () => {
  it('a labelled histogram is exposed exactly as prom-client exposes it', async () => {
    const ref = new Registry();
    const cells = new Registry();
    const h = new Histogram({ name: 'x_seconds', help: 'Help text.', labelNames: ['server'], buckets: BUCKETS, registers: [ref] });
    const c = new CellHistogram('x_seconds', 'Help text.', ['server'], BUCKETS, cells);
    const a = c.cell({ server: 'a' });
    for (const v of VALUES) {
      h.observe({ server: 'a' }, v);
      c.record(a, v);
    }
    h.observe({ server: 'b"q' }, 0.002);
    c.observe({ server: 'b"q' }, 0.002);
    expect(await cells.metrics()).toBe(await ref.metrics());
  });

  it('an unlabelled histogram and counter show zeros before the first observation, as prom-client does', async () => {
    const ref = new Registry();
    const cells = new Registry();
    new Histogram({ name: 'y_seconds', help: 'Y.', buckets: BUCKETS, registers: [ref] });
    new Counter({ name: 'y_total', help: 'Y count.', registers: [ref] });
    new CellHistogram('y_seconds', 'Y.', [], BUCKETS, cells);
    new CellCounter('y_total', 'Y count.', [], cells);
    expect(await cells.metrics()).toBe(await ref.metrics());
  });

  it('a labelled counter is exposed exactly as prom-client exposes it', async () => {
    const ref = new Registry();
    const cells = new Registry();
    const k = new Counter({ name: 'z_total', help: 'Z.', labelNames: ['server', 'method', 'outcome'], registers: [ref] });
    const c = new CellCounter('z_total', 'Z.', ['server', 'method', 'outcome'], cells);
    const cell = c.cell({ server: 's', method: 'tools/call', outcome: 'ok' });
    for (let i = 0; i < 5; i++) {
      k.inc({ server: 's', method: 'tools/call', outcome: 'ok' });
      cell.value++;
    }
    k.inc({ outcome: 'denied', method: 'tools/call', server: 's' }, 2);
    c.inc({ outcome: 'denied', method: 'tools/call', server: 's' }, 2);
    expect(await cells.metrics()).toBe(await ref.metrics());
  });

  it('refuses missing and unknown labels', () => {
    const c = new CellCounter('w_total', 'W.', ['method'], new Registry());
    expect(() => c.inc({})).toThrow(/label method missing/);
    expect(() => c.inc({ method: 'x', other: 'y' })).toThrow(/unknown label other/);
  });
});
