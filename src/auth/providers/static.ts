/**
 * `static` providers: named bearer tokens configured by environment variable
 * (`token_env`) or as a stored SHA-256 (`token_sha256`), each with a role and
 * groups. Meant for development, CI bots and simple setups.
 *
 * Only digests are kept in memory. A presented token is hashed once and
 * compared against every configured digest with `crypto.timingSafeEqual`
 * over equal-length (32-byte) digests, with no early exit, so neither the
 * position of a match nor the token's length shows in the timing. A token of
 * the wrong length simply hashes to a digest that matches nothing.
 */
import { timingSafeEqual } from 'node:crypto';
import { type StaticProviderDef } from '../../config/schema.js';
import { sha256 } from '../../lib/crypto.js';
import { type ExternalVerifier } from '../authenticate.js';
import { externalPrincipal, type Principal } from '../principal.js';

interface Entry {
  digest: Buffer;
  principal: Principal;
}

export class StaticTokens implements ExternalVerifier {
  readonly name: string;
  private readonly entries: Entry[] = [];

  /** Several static providers share one verifier so a token is hashed once. */
  constructor(defs: readonly StaticProviderDef[]) {
    this.name = 'static';
    for (const def of defs) {
      for (const t of def.tokens) {
        const digest = t.token !== undefined ? sha256(t.token) : Buffer.from(t.token_sha256!, 'hex');
        if (digest.length !== 32) throw new Error(`static provider ${def.name}: token ${t.name} has no usable digest`);
        this.entries.push({
          digest,
          principal: Object.freeze(
            externalPrincipal({ provider: def.name, subject: t.name, method: 'static', username: t.name, role: t.role, groups: Object.freeze([...t.groups]) }),
          ),
        });
      }
    }
  }

  async verifyBearer(token: string): Promise<Principal | null> {
    return this.match(token);
  }

  /** Constant-time scan: every entry is compared, whatever matched. */
  match(token: string): Principal | null {
    const presented = sha256(token);
    let found: Principal | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(presented, e.digest) && found === null) found = e.principal;
    }
    return found;
  }
}
