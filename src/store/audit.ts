import { sql } from 'kysely';
import { type AuditEvent } from '../audit/types.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { type AuditEventsTable } from './schema.js';

const AUDIT_COLUMNS = ['id', 'ts', 'action', 'actor', 'actor_type', 'token_id', 'server', 'method', 'tool', 'decision', 'status', 'latency_ms', 'ip', 'detail'] as const;

/** Event (or a stored record) → row; `detail` as JSON text. The public shape (audit/format.ts) is this with `detail` parsed. */
export function toAuditRow(e: (AuditEvent | AuditRecord) & { id: string; ts: string }): AuditEventsTable {
  return {
    id: e.id,
    ts: e.ts,
    action: e.action,
    actor: e.actor ?? null,
    actor_type: e.actorType ?? null,
    token_id: e.tokenId ?? null,
    server: e.server ?? null,
    method: e.method ?? null,
    tool: e.tool ?? null,
    decision: e.decision ?? null,
    status: e.status ?? null,
    latency_ms: e.latencyMs ?? null,
    ip: e.ip ?? null,
    detail: e.detail ? toJson(e.detail) : null,
  };
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

  private sqliteInsert: ((events: (AuditEvent & { id: string; ts: string })[]) => void) | null = null;

  /**
   * Batch insert, cheap per row: audit runs on every MCP message. SQLite uses
   * one cached prepared statement inside a single transaction; PostgreSQL one
   * constant-text INSERT ... SELECT FROM unnest(arrays) per batch.
   */
  async insertMany(events: (AuditEvent & { id: string; ts: string })[]): Promise<void> {
    if (!events.length) return;
    const raw = this.db.sqlite;
    // Never write inside a transaction kysely holds open on the same connection (it could roll our rows back).
    if (raw && !raw.inTransaction) {
      if (!this.sqliteInsert) {
        // Named parameters bound from toAuditRow: the one event-to-row mapping.
        const stmt = raw.prepare(`INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map((c) => `@${c}`).join(', ')})`);
        this.sqliteInsert = raw.transaction((batch: (AuditEvent & { id: string; ts: string })[]) => {
          for (const e of batch) stmt.run(toAuditRow(e));
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
