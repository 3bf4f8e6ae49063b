/**
 * A small bounded map with least-recently-used eviction and optional per-entry
 * expiry. Built on Map insertion order: O(1) get/set, no timers.
 *
 * Recency is tracked lazily: a hit moves the entry to the young end only once
 * it has aged past half the capacity (more than maxEntries/2 entries placed
 * after it). An entry used at least that often is never the oldest, so it is
 * never evicted, while most hits on a hot cache cost one Map lookup instead of
 * a delete and a re-insert.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; expiresAt: number; placed: number }>();
  /** Placements so far (inserts and refreshes): an entry's age is `placements - entry.placed`. */
  private placements = 0;
  private readonly refreshAge: number;

  /**
   * With `refreshOnGet: false` a hit never moves the entry (eviction becomes
   * first-in-first-out), right for caches whose entries expire on their own
   * (verified tokens).
   */
  constructor(
    private readonly maxEntries: number,
    private readonly opts: { refreshOnGet?: boolean } = {},
  ) {
    if (!(maxEntries > 0)) throw new TypeError('LruCache needs maxEntries > 0');
    this.refreshAge = opts.refreshOnGet === false ? Number.POSITIVE_INFINITY : Math.floor(maxEntries / 2);
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
    if (this.placements - hit.placed > this.refreshAge) {
      this.map.delete(key);
      hit.placed = ++this.placements;
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
    this.map.set(key, { value, expiresAt, placed: ++this.placements });
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
