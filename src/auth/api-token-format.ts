import { randomToken, sha256Hex } from '../lib/crypto.js';

export const API_TOKEN_PREFIX = 'pcl_';

/** A new API token: `pcl_` + 32 random bytes (256 bits) base64url. */
export function newApiToken(): { token: string; hash: string; prefix: string } {
  const token = API_TOKEN_PREFIX + randomToken(32);
  return { token, hash: hashApiToken(token), prefix: token.slice(0, API_TOKEN_PREFIX.length + 6) };
}

/**
 * Tokens carry 256 bits of entropy, so a fast hash is enough (no brute force
 * is possible) and the store is looked up by digest: the secret itself is never
 * compared byte by byte, so the lookup leaks nothing about it through timing.
 */
export const hashApiToken = (token: string): string => sha256Hex(token);
