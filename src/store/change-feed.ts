import { sql } from 'kysely';
import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';

/** One row of the change feed: an invalidation event (JSON) and who wrote it. */
export interface ChangeRow {
  seq: number;
  origin: string;
  event: string;
}

/** Serializes feed appends on PostgreSQL (advisory lock key). */
const FEED_LOCK = 7270702;

/**
 * The change feed: invalidation events appended in commit order, so running
 * gateways that poll it (cluster/change-feed.ts) see what other processes on
 * the same store changed. Rows are pruned after a while; a reader that fell
 * behind the oldest row flushes its caches instead.
 */
export class ChangeFeedStore {
  constructor(private readonly db: Db) {}

  /** Append events (one transaction); a later seq never commits before an earlier one. */
  async append(origin: string, events: readonly string[]): Promise<void> {
    if (!events.length) return;
    const ts = nowIso();
    if (this.db.dialect === 'sqlite') {
      await this.db.kysely
        .insertInto('change_feed')
        .values(events.map((event) => ({ origin, event, created_at: ts }) as never))
        .execute();
      return;
    }
    await this.db.kysely.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${FEED_LOCK})`.execute(trx);
      const head = await trx.selectFrom('change_feed').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
      const base = Number(head?.seq ?? 0);
      await trx
        .insertInto('change_feed')
        .values(events.map((event, i) => ({ seq: base + i + 1, origin, event, created_at: ts })))
        .execute();
    });
  }

  /** The newest seq (0 when empty). */
  async head(): Promise<number> {
    const r = await this.db.kysely.selectFrom('change_feed').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
    return Number(r?.seq ?? 0);
  }

  /** The oldest seq still kept (0 when empty). */
  async tail(): Promise<number> {
    const r = await this.db.kysely.selectFrom('change_feed').select((eb) => eb.fn.min('seq').as('seq')).executeTakeFirst();
    return Number(r?.seq ?? 0);
  }

  /** Rows after `seq`, oldest first. */
  async after(seq: number, limit: number): Promise<ChangeRow[]> {
    const rows = await this.db.kysely.selectFrom('change_feed').select(['seq', 'origin', 'event']).where('seq', '>', seq).orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), origin: r.origin, event: r.event }));
  }

  /** Drop rows written before `before` (ISO time). */
  async prune(before: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('change_feed').where('created_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** A polling gateway says it is alive. */
  async heartbeat(replica: string): Promise<void> {
    const seen_at = nowIso();
    await this.db.kysely
      .insertInto('change_feed_consumers')
      .values({ replica, seen_at })
      .onConflict((oc) => oc.column('replica').doUpdateSet({ seen_at }))
      .execute();
  }

  async leave(replica: string): Promise<void> {
    await this.db.kysely.deleteFrom('change_feed_consumers').where('replica', '=', replica).execute();
  }

  /** Gateways that polled since `since` (ISO time); older entries are removed. */
  async consumers(since: string): Promise<string[]> {
    await this.db.kysely.deleteFrom('change_feed_consumers').where('seen_at', '<', since).execute();
    return (await this.db.kysely.selectFrom('change_feed_consumers').select('replica').execute()).map((r) => r.replica);
  }
}
