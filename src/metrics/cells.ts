/**
 * Counters and histograms for the per-request series, cheaper than
 * prom-client's on the hot path: each label combination gets a plain object
 * ("cell") once, and counting is a field increment, with no label validation,
 * hashing or object allocation per observation. They implement the metric
 * shape prom-client's Registry formats (`name`, `help`, `type`, `get()`), so
 * they are exposed by the same registry, in the same text format, as every
 * other series.
 */
import { type Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class CellMetric<C> {
  private readonly cells = new Map<string, { labels: Labels; cell: C }>();
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  protected abstract newCell(): C;

  /** The cell of one label combination (created on first use; callers on the hot path keep it). */
  cell(labels: Labels = {}): C {
    let key = '';
    for (const n of this.labelNames) {
      const v = labels[n];
      if (typeof v !== 'string') throw new TypeError(`metric ${this.name}: label ${n} missing`);
      key += v + '\u0000';
    }
    for (const k in labels) if (!this.labelNames.includes(k)) throw new TypeError(`metric ${this.name}: unknown label ${k}`);
    let e = this.cells.get(key);
    if (!e) this.cells.set(key, (e = { labels: { ...labels }, cell: this.newCell() }));
    return e.cell;
  }

  protected entries(): IterableIterator<{ labels: Labels; cell: C }> {
    return this.cells.values();
  }

  protected abstract values(): MetricValue[];

  /** prom-client's metric interface (what Registry formats). */
  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.clear();
  }
}

export interface CounterCell {
  value: number;
}

export class CellCounter extends CellMetric<CounterCell> {
  readonly type = 'counter';

  constructor(name: string, help: string, labelNames: readonly string[], registry: Registry) {
    super(name, help, labelNames, registry);
    if (labelNames.length === 0) this.cell(); // exposed as 0 from the start, like prom-client's
  }

  protected newCell(): CounterCell {
    return { value: 0 };
  }

  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }

  protected values(): MetricValue[] {
    return [...this.entries()].map(({ labels, cell }) => ({ labels: { ...labels }, value: cell.value }));
  }
}

export interface HistogramCell {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class CellHistogram extends CellMetric<HistogramCell> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    if (labelNames.length === 0) this.cell();
  }

  protected newCell(): HistogramCell {
    return { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
  }

  /** Record one value in a cell. */
  record(cell: HistogramCell, v: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    cell.counts[i]++;
    cell.sum += v;
    cell.count++;
  }

  observe(labels: Labels, v: number): void {
    this.record(this.cell(labels), v);
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const { labels, cell } of this.entries()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += cell.counts[i];
        out.push({ labels: { le: this.buckets[i], ...labels }, value: acc, metricName: `${this.name}_bucket` });
      }
      out.push({ labels: { le: '+Inf', ...labels }, value: cell.count, metricName: `${this.name}_bucket` });
      out.push({ labels: { ...labels }, value: cell.sum, metricName: `${this.name}_sum` });
      out.push({ labels: { ...labels }, value: cell.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}
