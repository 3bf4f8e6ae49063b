/**
 * Who the audit names for a failed login or client authentication.
 *
 * A known account is named by its principal id. Whatever else the client
 * typed is never stored: it may be a password typed into the email field,
 * readable by every viewer of the audit (SPEC §15). It is recorded as
 * `unknown:<32 hex>`, the first 128 bits of an HMAC-SHA256 of the input under
 * a secret the gateway generates on first use and keeps in its store: the
 * same input gives the same actor (repeated attempts on one name stand out),
 * but nobody holding the audit alone can recover the input or test guesses
 * against it offline.
 */
import { createHmac } from 'node:crypto';
import { randomToken } from '../lib/crypto.js';
import { UNKNOWN_LOGIN_ACTOR_PREFIX } from '../lib/principal-id.js';
import { type Store } from '../store/index.js';

/** The settings key holding the HMAC secret (base64url, 256 bits). */
export const LOGIN_ACTOR_KEY_SETTING = 'audit_login_hmac_key';

export interface AuditActor {
  actor: string;
  actorType: 'user' | 'service_account' | 'anonymous';
}

/** `unknown:<first 16 bytes of HMAC-SHA256(key, input), hex>`. */
export const unknownLoginActor = (key: Buffer, input: string): string =>
  UNKNOWN_LOGIN_ACTOR_PREFIX + createHmac('sha256', key).update(input, 'utf8').digest('hex').slice(0, 32);

/** Keyed names for login input that matched no account; the secret is read (or made) once. */
export class UnknownLoginActors {
  private key: Promise<Buffer> | null = null;

  constructor(private readonly settings: Pick<Store['settings'], 'getOrInit'>) {}

  async of(input: string): Promise<AuditActor> {
    return { actor: unknownLoginActor(await this.secret(), input), actorType: 'anonymous' };
  }

  private secret(): Promise<Buffer> {
    if (!this.key) {
      const p = this.settings.getOrInit(LOGIN_ACTOR_KEY_SETTING, () => randomToken(32)).then((v) => Buffer.from(v, 'base64url'));
      // A failed read is not kept: the next failed login asks again.
      p.catch(() => {
        if (this.key === p) this.key = null;
      });
      this.key = p;
    }
    return this.key;
  }
}
