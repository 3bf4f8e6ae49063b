/**
 * Authenticated encryption for small secrets at rest (AES-256-GCM).
 *
 * Sealed format (one ASCII string, safe for a text column):
 *
 *     v1.<kid>.<iv>.<ciphertext>.<tag>
 *
 * - `v1`: format version.
 * - `kid`: 16 hex chars identifying the key (a keyed hash of it, never the key
 *   itself), so records can be matched to the key that sealed them and a
 *   future rotation can decrypt with the old key and re-seal with the new one.
 * - `iv`: 12 random bytes per record (base64url); never reused with one key.
 * - `ciphertext`, `tag`: base64url; the 16-byte GCM tag authenticates the
 *   ciphertext, the header `v1.<kid>` and the caller's associated data.
 *
 * The associated data (AAD) binds a record to its context (for per-user
 * upstream credentials: the principal id and the server name), so a record
 * copied to another row fails to open.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/**
 * Parse a 32-byte key given as 64 hex characters or as base64 / base64url
 * (padding optional). Returns undefined for anything else.
 */
export function parseEncryptionKey(text: string): Buffer | undefined {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(s)) {
    const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  return undefined;
}

export const ENCRYPTION_KEY_HINT = 'must be 32 bytes given as 64 hex characters or base64 (e.g. the output of `openssl rand -base64 32`)';

/** The key id: the first 8 bytes of HMAC-SHA256(key, label), hex. Reveals nothing about the key. */
export function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('portcullis secretbox key id').digest('hex').slice(0, 16);
}

const b64u = (b: Buffer): string => b.toString('base64url');

export class SecretBox {
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new TypeError(`SecretBox needs a ${KEY_BYTES}-byte key`);
    this.key = Buffer.from(key);
    this.keyId = keyId(this.key);
  }

  /** The prefix every record sealed by this key starts with. */
  get prefix(): string {
    return `${VERSION}.${this.keyId}.`;
  }

  seal(plaintext: string, aad: string): string {
    const header = `${VERSION}.${this.keyId}`;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(`${header}\0${aad}`, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${header}.${b64u(iv)}.${b64u(ct)}.${b64u(cipher.getAuthTag())}`;
  }

  /** Open a sealed record; throws SecretBoxError on any mismatch (format, key, AAD, tampering). */
  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError('unsupported sealed-record format');
    const [version, kid, ivText, ctText, tagText] = parts;
    if (kid !== this.keyId) throw new SecretBoxError(`record was sealed with key id ${kid}, the configured key has id ${this.keyId}`);
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('malformed sealed record');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(`${version}.${kid}\0${aad}`, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('sealed record failed authentication (wrong key, wrong context or tampered)');
    }
  }
}

/** The key id a sealed record names, or undefined when it is not a sealed record. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
}
