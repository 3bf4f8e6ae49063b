/**
 * Ending OAuth grants (SPEC §10): a grant is the family of everything issued
 * from one consent — its codes, refresh tokens and access tokens. Revoking it
 * deletes what is stored, records the grant as revoked (so replicas starting
 * later know it) and tells every replica over the bus, whose in-memory set
 * then refuses its access tokens on the next request (within 1 s).
 */
import { type RevokedGrants } from '../auth/oauth-access-tokens.js';
import { type Bus } from '../lib/bus.js';
import { type Store } from '../store/index.js';

export type RevocationReason =
  | 'code_reuse'
  | 'refresh_token_reuse'
  | 'foreign_client'
  | 'revoked_by_client'
  | 'revoked_by_user'
  | 'client_deleted'
  | 'user_deleted'
  | 'engine';

export class GrantRevoker {
  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    /** This replica's set, when it serves requests (the CLI has none: the bus reaches the gateways). */
    private readonly revoked: RevokedGrants | null,
    /** Told about every grant that ended (audit, metrics). */
    private readonly onRevoked: (grantId: string, reason: RevocationReason) => void = () => {},
  ) {}

  /** End one grant and everything issued under it; true when it existed. */
  async revokeGrant(grantId: string, reason: RevocationReason): Promise<boolean> {
    await this.store.oauth.recordRevokedGrant(grantId, reason);
    const existed = await this.store.oauth.destroyGrant(grantId);
    this.announce(grantId, reason);
    return existed;
  }

  /** End every grant of a client; returns how many. */
  async revokeClient(clientId: string, reason: RevocationReason): Promise<number> {
    const ids = await this.store.oauth.grantIdsOfClient(clientId);
    for (const id of ids) await this.revokeGrant(id, reason);
    return ids.length;
  }

  /** End every grant of a user; returns how many. */
  async revokeAccount(accountId: string, reason: RevocationReason): Promise<number> {
    const ids = await this.store.oauth.grantIdsOfAccount(accountId);
    for (const id of ids) await this.revokeGrant(id, reason);
    return ids.length;
  }

  private announce(grantId: string, reason: RevocationReason): void {
    this.revoked?.add(grantId);
    this.bus.publish({ kind: 'oauth_grant', id: grantId });
    this.onRevoked(grantId, reason);
  }
}
