import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';

export interface BrowserSessionRecord {
  /** SHA-256 digest of the cookie value (the value itself is never stored). */
  id: string;
  userId: string;
  createdAt: string;
  lastSeenAt: string;
  /** Absolute end (created + max_age). */
  expiresAt: string;
}

/** Browser sign-in sessions (SPEC §11). */
export class BrowserSessionStore {
  constructor(private readonly db: Db) {}

  async create(s: { id: string; userId: string; expiresAt: string }): Promise<BrowserSessionRecord> {
    const ts = nowIso();
    const row = { id: s.id, user_id: s.userId, created_at: ts, last_seen_at: ts, expires_at: s.expiresAt };
    await this.db.kysely.insertInto('browser_sessions').values(row).execute();
    return { id: row.id, userId: row.user_id, createdAt: ts, lastSeenAt: ts, expiresAt: row.expires_at };
  }

  async get(id: string): Promise<BrowserSessionRecord | undefined> {
    const r = await this.db.kysely.selectFrom('browser_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? { id: r.id, userId: r.user_id, createdAt: r.created_at, lastSeenAt: r.last_seen_at, expiresAt: r.expires_at } : undefined;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.kysely.updateTable('browser_sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.kysely.deleteFrom('browser_sessions').where('id', '=', id).execute();
  }

  /** End every session of a user but `keep`; returns how many ended. */
  async deleteForUser(userId: string, keep?: string): Promise<number> {
    let q = this.db.kysely.deleteFrom('browser_sessions').where('user_id', '=', userId);
    if (keep) q = q.where('id', '!=', keep);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Delete sessions past their absolute end or idle since before `idleBeforeIso`. */
  async purge(idleBeforeIso: string): Promise<number> {
    const r = await this.db.kysely
      .deleteFrom('browser_sessions')
      .where((eb) => eb.or([eb('expires_at', '<', nowIso()), eb('last_seen_at', '<', idleBeforeIso)]))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
