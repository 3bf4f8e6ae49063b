import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';

export interface RefreshTokenRecord {
  id: string;
  familyId: string;
  userId: string;
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
}

const SLICE = 500;

export class RefreshTokenStore {
  constructor(private readonly db: Db) {}

  async insert(r: { id: string; familyId: string; userId: string; tokenHash: string; expiresAt: string }): Promise<void> {
    await this.db.kysely
      .insertInto('refresh_tokens')
      .values({ id: r.id, family_id: r.familyId, user_id: r.userId, token_hash: r.tokenHash, expires_at: r.expiresAt, used_at: null, revoked_at: null, created_at: nowIso() })
      .execute();
  }

  async byHash(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const r = await this.db.kysely.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r ? { id: r.id, familyId: r.family_id, userId: r.user_id, expiresAt: r.expires_at, usedAt: r.used_at, revokedAt: r.revoked_at } : undefined;
  }

  /** Atomically mark as used; false when it was already used (reuse). */
  async markUsed(id: string): Promise<boolean> {
    const r = await this.db.kysely.updateTable('refresh_tokens').set({ used_at: nowIso() }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Revoke a family: record it (with its expiry, the latest expiry of its
   * refresh tokens), then mark its tokens. In that order and not in one
   * transaction: a refresh that inserts a token into the family and then
   * checks isFamilyRevoked either sees the record or had its token inserted
   * before the marking, which then covers it.
   */
  async revokeFamily(familyId: string): Promise<void> {
    await this.recordRevoked([familyId]);
    await this.db.kysely.updateTable('refresh_tokens').set({ revoked_at: nowIso() }).where('family_id', '=', familyId).where('revoked_at', 'is', null).execute();
  }

  /** Revoke every family of a user except `keepFamily`; returns the revoked family ids. */
  async revokeUserFamilies(userId: string, keepFamily?: string): Promise<string[]> {
    let q = this.db.kysely.selectFrom('refresh_tokens').select('family_id').distinct().where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (keepFamily) q = q.where('family_id', '!=', keepFamily);
    const fams = (await q.execute()).map((r) => r.family_id);
    // In slices, so a user with many sessions stays under the backends' bound-parameter limits.
    for (let i = 0; i < fams.length; i += SLICE) {
      const slice = fams.slice(i, i + SLICE);
      await this.recordRevoked(slice);
      await this.db.kysely.updateTable('refresh_tokens').set({ revoked_at: nowIso() }).where('family_id', 'in', slice).where('revoked_at', 'is', null).execute();
    }
    return fams;
  }

  /** Families revoked since `sinceIso` (loaded at start to rebuild the in-memory revocation set). */
  async familiesRevokedSince(sinceIso: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('revoked_refresh_families').select('family_id').where('revoked_at', '>=', sinceIso).execute();
    return rows.map((r) => r.family_id);
  }

  async isFamilyRevoked(familyId: string): Promise<boolean> {
    const r = await this.db.kysely.selectFrom('revoked_refresh_families').select('family_id').where('family_id', '=', familyId).executeTakeFirst();
    return !!r;
  }

  /** Delete refresh tokens that expired before `beforeIso`; returns how many. */
  async pruneExpired(beforeIso: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('refresh_tokens').where('expires_at', '<', beforeIso).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Forget revoked families whose expiry is before `beforeIso`; returns how many. */
  async pruneRevokedFamilies(beforeIso: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('revoked_refresh_families').where('expires_at', '<', beforeIso).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * Record families as revoked now, each expiring when its last refresh token
   * does (now, for a family with none left). A family already recorded keeps
   * its first revocation time; its expiry only grows.
   */
  private async recordRevoked(familyIds: string[]): Promise<void> {
    const ts = nowIso();
    const latest = await this.db.kysely
      .selectFrom('refresh_tokens')
      .select(['family_id', (eb) => eb.fn.max('expires_at').as('expires_at')])
      .where('family_id', 'in', familyIds)
      .groupBy('family_id')
      .execute();
    const expiry = new Map(latest.map((r) => [r.family_id, r.expires_at as string]));
    const values = familyIds.map((f) => {
      const e = expiry.get(f);
      return { family_id: f, revoked_at: ts, expires_at: e !== undefined && e > ts ? e : ts };
    });
    await this.db.kysely
      .insertInto('revoked_refresh_families')
      .values(values)
      .onConflict((oc) =>
        oc.column('family_id').doUpdateSet((eb) => ({
          expires_at: eb
            .case()
            .when('excluded.expires_at', '>', eb.ref('revoked_refresh_families.expires_at'))
            .then(eb.ref('excluded.expires_at'))
            .else(eb.ref('revoked_refresh_families.expires_at'))
            .end(),
        })),
      )
      .execute();
  }
}
