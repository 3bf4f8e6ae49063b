import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

// One-shot `crypto.hash` (Node >= 20.12): no Hash object per call; these run on the hot path (API token lookups).
export const sha256 = (input: string): Buffer => hash('sha256', input, 'buffer');
export const sha256Hex = (input: string): string => hash('sha256', input, 'hex');
export const sha256B64u = (input: string): string => hash('sha256', input, 'base64url');

/** Random URL-safe string carrying `bytes` bytes of entropy. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

export const uuid = (): string => randomUUID();

/**
 * Constant-time comparison of two secrets of any length: both sides are hashed
 * first so the comparison always runs over equal-length digests and leaks
 * neither content nor length.
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** Constant-time comparison of two equal-purpose hex/base64 digests. */
export function digestEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ba.length !== bb.length) {
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

/**
 * A time-ordered UUID (version 7, RFC 9562): 48-bit millisecond timestamp then
 * randomness. Ids of rows written in time order land at the end of a B-tree
 * index instead of at random places (cheaper bulk inserts).
 */
let v7Ms = NaN;
let v7Prefix = '';
export function uuidv7(ms = Date.now()): string {
  if (ms !== v7Ms) {
    // "tttttttt-tttt-7": formatted once per millisecond
    const t = ms.toString(16).padStart(12, '0');
    v7Ms = ms;
    v7Prefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
  }
  // randomUUID() is "xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx": its 12 random bits after the
  // version digit, the variant group and the last group complete the id.
  return v7Prefix + randomUUID().slice(15);
}

const B64URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * True when `s` is exactly the unpadded base64url encoding (RFC 4648 §5) of
 * the bytes it decodes to: alphabet characters only, no `=`, a length that
 * encodes whole bytes, and zero trailing bits in the last character. Decoders
 * accept the other spellings of the last character too (several strings, the
 * same bytes); a check that must see one spelling per value uses this.
 */
export function isCanonicalBase64url(s: string): boolean {
  if (!B64URL_ALPHABET.test(s) || s.length % 4 === 1) return false;
  return Buffer.from(s, 'base64url').toString('base64url') === s;
}
