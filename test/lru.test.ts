import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/lib/lru.js';

describe('LruCache', () => {
  it('evicts the oldest entry when full', () => {
    const c = new LruCache<string, number>(3);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    c.set('d', 4);
    expect(c.get('a')).toBeUndefined();
    expect([c.get('b'), c.get('c'), c.get('d')]).toEqual([2, 3, 4]);
    expect(c.size).toBe(3);
  });

  it('an entry used more often than every capacity/2 insertions is never evicted, however much churn', () => {
    const c = new LruCache<string, number>(100);
    c.set('hot', 1);
    for (let i = 0; i < 10_000; i++) {
      c.set(`k${i}`, i);
      if (i % 40 === 0) expect(c.get('hot')).toBe(1);
    }
    expect(c.get('hot')).toBe(1);
    expect(c.size).toBe(100);
  });

  it('a recently used entry outlives entries inserted after it but not used (LRU, not FIFO)', () => {
    const c = new LruCache<string, number>(4);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    c.set('d', 4);
    expect(c.get('a')).toBe(1); // aged past capacity/2: moved to the young end
    c.set('e', 5);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
  });

  it('refreshOnGet: false evicts first-in-first-out', () => {
    const c = new LruCache<string, number>(2, { refreshOnGet: false });
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')).toBe(2);
  });

  it('expired entries are never returned', () => {
    const c = new LruCache<string, number>(10);
    c.set('x', 1, 1_000);
    expect(c.get('x', 999)).toBe(1);
    expect(c.get('x', 1_000)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('re-setting a key replaces its value without growing', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('a', 2);
    c.set('b', 3);
    expect(c.get('a')).toBe(2);
    expect(c.size).toBe(2);
  });
});
