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

  async revokeFamily(familyId: string): Promise<void> {
    await this.db.kysely.updateTable('refresh_tokens').set({ revoked_at: nowIso() }).where('family_id', '=', familyId).where('revoked_at', 'is', null).execute();
  }

  /** Revoke every family of a user except `keepFamily`; returns the revoked family ids. */
  async revokeUserFamilies(userId: string, keepFamily?: string): Promise<string[]> {
    let q = this.db.kysely.selectFrom('refresh_tokens').select('family_id').distinct().where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (keepFamily) q = q.where('family_id', '!=', keepFamily);
    const fams = (await q.execute()).map((r) => r.family_id);
    if (fams.length) await this.db.kysely.updateTable('refresh_tokens').set({ revoked_at: nowIso() }).where('family_id', 'in', fams).execute();
    return fams;
  }

  /** Families revoked since `sinceIso` (loaded at start to rebuild the in-memory revocation set). */
  async familiesRevokedSince(sinceIso: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('refresh_tokens').select('family_id').distinct().where('revoked_at', '>=', sinceIso).execute();
    return rows.map((r) => r.family_id);
  }

  async isFamilyRevoked(familyId: string): Promise<boolean> {
    const r = await this.db.kysely.selectFrom('refresh_tokens').select('id').where('family_id', '=', familyId).where('revoked_at', 'is not', null).executeTakeFirst();
    return !!r;
  }

  async pruneExpired(beforeIso: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('refresh_tokens').where('expires_at', '<', beforeIso).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
