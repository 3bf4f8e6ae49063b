import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

export const sha256 = (input: string): Buffer => createHash('sha256').update(input).digest();
export const sha256Hex = (input: string): string => createHash('sha256').update(input).digest('hex');
export const sha256B64u = (input: string): string => createHash('sha256').update(input).digest('base64url');

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
