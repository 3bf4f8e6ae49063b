import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { isCanonicalBase64url, sha256, sha256B64u, sha256Hex, uuidv7 } from '../src/lib/crypto.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('is an RFC 9562 version-7 UUID carrying the millisecond timestamp', () => {
    for (const ms of [0, 1, 1_763_800_000_123, 2 ** 48 - 1]) {
      const id = uuidv7(ms);
      expect(id).toMatch(V7);
      expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    }
  });

  it('ids of one millisecond are distinct; later milliseconds sort after earlier ones', () => {
    const ms = Date.now();
    const same = new Set(Array.from({ length: 1000 }, () => uuidv7(ms)));
    expect(same.size).toBe(1000);
    const seq = [ms, ms + 1, ms + 2, ms + 1000].map((t) => uuidv7(t));
    expect([...seq].sort()).toEqual(seq);
    expect(uuidv7(ms)).toMatch(V7); // back to an earlier millisecond: still well formed
  });
});

describe('sha256 helpers', () => {
  it('match node:crypto createHash', () => {
    for (const s of ['', 'pcl_abc', 'ünïcødé ✓']) {
      const ref = createHash('sha256').update(s).digest();
      expect(sha256(s).equals(ref)).toBe(true);
      expect(sha256Hex(s)).toBe(ref.toString('hex'));
      expect(sha256B64u(s)).toBe(ref.toString('base64url'));
    }
  });
});

describe('isCanonicalBase64url', () => {
  it('accepts exactly the encoding of the bytes, for every length of the last group', () => {
    for (const n of [0, 1, 2, 3, 31, 32, 33, 64]) {
      const s = randomBytes(n).toString('base64url');
      expect(isCanonicalBase64url(s)).toBe(true);
    }
  });

  it('refuses the other spellings of the last character (non-zero trailing bits), which decode to the same bytes', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const [n, spellings] of [[1, 16], [2, 4], [32, 4], [64, 16]] as const) {
      const s = randomBytes(n).toString('base64url');
      const same = [...alphabet].map((c) => s.slice(0, -1) + c).filter((v) => Buffer.from(v, 'base64url').equals(Buffer.from(s, 'base64url')));
      expect(same).toHaveLength(spellings);
      expect(same.filter(isCanonicalBase64url)).toEqual([s]);
    }
  });

  it('refuses padding, the base64 alphabet, other characters and impossible lengths', () => {
    const s = Buffer.from([0xfb, 0xff]).toString('base64url'); // "-_8"
    expect(isCanonicalBase64url(s)).toBe(true);
    for (const bad of [`${s}=`, '-_8=', '+/8', 'a b', 'ab\n', 'abcde', 'A', 'ab.c']) expect(isCanonicalBase64url(bad)).toBe(false);
  });
});
