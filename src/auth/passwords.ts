import { hash, verify, Algorithm } from '@node-rs/argon2';

const OPTS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTS);
}

let dummyHash: Promise<string> | null = null;

/**
 * Verify a password. With no stored hash (unknown user) it still runs one
 * argon2 verification against a dummy hash, so both paths take the same time.
 */
export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (!stored) {
    dummyHash ??= hash('portcullis-timing-equalizer', OPTS);
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}
