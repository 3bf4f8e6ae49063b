/**
 * InflightList: the lifecycle's set of responses in flight, kept as an
 * intrusive linked list (a long-lived Set with per-request churn makes V8
 * promote nearly every request).
 */
import { type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { InflightList } from '../src/http/lifecycle.js';

const res = (name: string) => ({ name }) as unknown as ServerResponse;
const names = (l: InflightList) => [...l].map((r) => (r as unknown as { name: string }).name);

describe('InflightList', () => {
  it('adds, removes from the head, the middle and the tail, and counts', () => {
    const l = new InflightList();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(res);
    for (const r of [a, b, c, d]) l.add(r);
    expect(l.size).toBe(4);
    expect(names(l)).toEqual(['d', 'c', 'b', 'a']);
    l.delete(c); // middle
    expect(names(l)).toEqual(['d', 'b', 'a']);
    l.delete(d); // head
    expect(names(l)).toEqual(['b', 'a']);
    l.delete(a); // tail
    expect(names(l)).toEqual(['b']);
    l.delete(b);
    expect(l.size).toBe(0);
    expect(names(l)).toEqual([]);
    l.add(a); // reusable after removal
    expect(names(l)).toEqual(['a']);
  });

  it('ignores a second add and a delete of something not in it', () => {
    const l = new InflightList();
    const [a, b] = ['a', 'b'].map(res);
    l.add(a);
    l.add(a);
    l.delete(b);
    expect(l.size).toBe(1);
    expect(names(l)).toEqual(['a']);
    l.delete(a);
    l.delete(a);
    expect(l.size).toBe(0);
  });

  it('a removed response keeps no link to the others (nothing for a dead response to hold alive)', () => {
    const l = new InflightList();
    const [a, b, c] = ['a', 'b', 'c'].map(res);
    for (const r of [a, b, c]) l.add(r);
    l.delete(b);
    const linked = Object.getOwnPropertySymbols(b).map((s) => (b as unknown as Record<symbol, unknown>)[s]).filter((v) => typeof v === 'object' && v !== null);
    expect(linked).toEqual([]);
  });

  it('iterates over a snapshot: responses may leave the list while it is gone through', () => {
    const l = new InflightList();
    const all = ['a', 'b', 'c', 'd'].map(res);
    for (const r of all) l.add(r);
    const seen: string[] = [];
    for (const r of l) {
      seen.push((r as unknown as { name: string }).name);
      l.delete(r);
    }
    expect(seen).toEqual(['d', 'c', 'b', 'a']);
    expect(l.size).toBe(0);
  });
});
