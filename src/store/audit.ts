import { sql } from 'kysely';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { type AuditEventsTable } from './schema.js';

const AUDIT_COLUMNS = ['id', 'ts', 'action', 'actor', 'actor_type', 'token_id', 'server', 'method', 'tool', 'decision', 'status', 'latency_ms', 'ip', 'detail'] as const;

/** One row's values, in AUDIT_COLUMNS order (SQLite binds them positionally: cheaper than by name). */
type AuditValues = [
  id: string,
  ts: string,
  action: string,
  actor: string | null,
  actor_type: string | null,
  token_id: string | null,
  server: string | null,
  method: string | null,
  tool: string | null,
  decision: string | null,
  status: number | null,
  latency_ms: number | null,
  ip: string | null,
  detail: string | null,
];

const SQLITE_AUDIT_INSERT = `INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

/**
 * What is stored of one event. The audit layer's typed events (audit/types.ts)
 * have this shape; the store takes any value of it and knows nothing of actions.
 */
export interface AuditEntry {
  action: string;
  actor?: string | null;
  actorType?: string | null;
  tokenId?: string | null;
  server?: string | null;
  method?: string | null;
  tool?: string | null;
  decision?: string | null;
  status?: number | null;
  latencyMs?: number | null;
  ip?: string | null;
  detail?: Record<string, unknown> | null;
}

/** An entry (or a stored record) with its id and time. */
type StampedEvent = AuditEntry & { id: string; ts: string };

/** Event (or a stored record) → the row's values in AUDIT_COLUMNS order; `detail` as JSON text. The one event-to-row mapping. */
function auditValues(e: StampedEvent): AuditValues {
  return [
    e.id,
    e.ts,
    e.action,
    e.actor ?? null,
    e.actorType ?? null,
    e.tokenId ?? null,
    e.server ?? null,
    e.method ?? null,
    e.tool ?? null,
    e.decision ?? null,
    e.status ?? null,
    e.latencyMs ?? null,
    e.ip ?? null,
    e.detail ? toJson(e.detail) : null,
  ];
}

/** Event (or a stored record) → row object (auditValues by column name). The public shape (audit/format.ts) is this with `detail` parsed. */
export function toAuditRow(e: StampedEvent): AuditEventsTable {
  const v = auditValues(e);
  const row: Record<string, unknown> = {};
  for (let i = 0; i < AUDIT_COLUMNS.length; i++) row[AUDIT_COLUMNS[i]] = v[i];
  return row as unknown as AuditEventsTable;
}

/** A stored audit event as read back. */
export interface AuditRecord {
  id: string;
  ts: string;
  action: string;
  actor: string | null;
  actorType: string | null;
  tokenId: string | null;
  server: string | null;
  method: string | null;
  tool: string | null;
  decision: string | null;
  status: number | null;
  latencyMs: number | null;
  ip: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  actor?: string;
  server?: string;
  /** Exact action names, or `prefix.*` for a family (`token.*`). */
  actions?: string[];
  decision?: 'allow' | 'deny';
  /** Inclusive lower bound, ISO-8601. */
  since?: string;
  /** Exclusive upper bound, ISO-8601. */
  until?: string;
  /** Continue after this (ts, id), newest first. */
  after?: { ts: string; id: string };
  limit: number;
}

const fromRow = (r: AuditEventsTable): AuditRecord => ({
  id: r.id,
  ts: r.ts,
  action: r.action,
  actor: r.actor,
  actorType: r.actor_type,
  tokenId: r.token_id,
  server: r.server,
  method: r.method,
  tool: r.tool,
  decision: r.decision,
  status: r.status === null ? null : Number(r.status),
  latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
  ip: r.ip,
  detail: fromJson<Record<string, unknown> | null>(r.detail, null),
});

export class AuditStore {
  constructor(private readonly db: Db) {}

  private sqliteInsert: ((events: StampedEvent[]) => void) | null = null;

  /**
   * Batch insert, cheap per row: audit runs on every MCP message. SQLite uses
   * one cached prepared statement, bound positionally, inside a single
   * transaction; PostgreSQL one constant-text INSERT ... SELECT FROM
   * unnest(arrays) per batch.
   */
  async insertMany(events: StampedEvent[]): Promise<void> {
    if (!events.length) return;
    const raw = this.db.sqlite;
    // Never write inside a transaction kysely holds open on the same connection (it could roll our rows back).
    if (raw && !raw.inTransaction) {
      if (!this.sqliteInsert) {
        const stmt = raw.prepare(SQLITE_AUDIT_INSERT);
        this.sqliteInsert = raw.transaction((batch: StampedEvent[]) => {
          // Spread, not the array: better-sqlite3 walks an array argument as a bind source (~0.5 µs more per row).
          for (const e of batch) stmt.run(...auditValues(e));
        });
      }
      this.sqliteInsert(events);
      return;
    }
    const rows = events.map(toAuditRow);
    if (this.db.dialect === 'postgres') {
      const col = <K extends keyof AuditEventsTable>(k: K) => rows.map((r) => r[k]);
      await sql`INSERT INTO audit_events (id, ts, action, actor, actor_type, token_id, server, method, tool, decision, status, latency_ms, ip, detail)
        SELECT * FROM unnest(${col('id')}::text[], ${col('ts')}::text[], ${col('action')}::text[], ${col('actor')}::text[], ${col('actor_type')}::text[],
          ${col('token_id')}::text[], ${col('server')}::text[], ${col('method')}::text[], ${col('tool')}::text[], ${col('decision')}::text[],
          ${col('status')}::int[], ${col('latency_ms')}::float8[], ${col('ip')}::text[], ${col('detail')}::text[])`.execute(this.db.kysely);
      return;
    }
    for (let i = 0; i < rows.length; i += 200) await this.db.kysely.insertInto('audit_events').values(rows.slice(i, i + 200)).execute();
  }

  /** Events matching every given filter, newest first (ts desc, id desc); keyset-paginated. */
  async query(q: AuditQuery): Promise<AuditRecord[]> {
    let sel = this.db.kysely.selectFrom('audit_events').selectAll();
    if (q.actor !== undefined) sel = sel.where('actor', '=', q.actor);
    if (q.server !== undefined) sel = sel.where('server', '=', q.server);
    if (q.decision !== undefined) sel = sel.where('decision', '=', q.decision);
    if (q.since !== undefined) sel = sel.where('ts', '>=', q.since);
    if (q.until !== undefined) sel = sel.where('ts', '<', q.until);
    if (q.actions?.length) {
      const exact = q.actions.filter((a) => !a.endsWith('.*'));
      const prefixes = q.actions.filter((a) => a.endsWith('.*')).map((a) => a.slice(0, -1));
      sel = sel.where((eb) =>
        eb.or([
          ...(exact.length ? [eb('action', 'in', exact)] : []),
          // Action names are [a-z_.]; the prefix has no LIKE wildcards to escape.
          ...prefixes.map((p) => eb('action', 'like', `${p}%`)),
        ]),
      );
    }
    if (q.after) {
      const { ts, id } = q.after;
      sel = sel.where((eb) => eb.or([eb('ts', '<', ts), eb.and([eb('ts', '=', ts), eb('id', '<', id)])]));
    }
    const rows = await sel.orderBy('ts', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map(fromRow);
  }

  /** Delete events older than `before` (ISO-8601); returns how many. */
  async prune(before: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('audit_events').where('ts', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows ?? 0n);
  }
}
