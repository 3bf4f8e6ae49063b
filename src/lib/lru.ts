/**
 * A small bounded map with least-recently-used eviction and optional per-entry
 * expiry. Built on Map insertion order: O(1) get/set, no timers.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; expiresAt: number }>();

  /**
   * With `refreshOnGet: false` a hit does not move the entry to the young end
   * (eviction becomes first-in-first-out): two fewer Map operations per hit,
   * right for caches whose entries expire on their own (verified tokens).
   */
  constructor(
    private readonly maxEntries: number,
    private readonly opts: { refreshOnGet?: boolean } = {},
  ) {
    if (!(maxEntries > 0)) throw new TypeError('LruCache needs maxEntries > 0');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K, now = Date.now()): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    if (this.opts.refreshOnGet !== false) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit.value;
  }

  set(key: K, value: V, expiresAt = Number.POSITIVE_INFINITY): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt });
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Delete every entry whose value matches the predicate. */
  deleteWhere(pred: (value: V, key: K) => boolean): number {
    let n = 0;
    for (const [k, v] of this.map) {
      if (pred(v.value, k)) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.map.clear();
  }
}
