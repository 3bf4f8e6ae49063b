/**
 * The audit_events columns in insert order, and the one SQLite INSERT over
 * them. Shared by the store (src/store/audit.ts) and the audit writer thread
 * (src/store/audit-worker.ts), which must not load the rest of the store.
 */
export const AUDIT_COLUMNS = ['id', 'ts', 'action', 'actor', 'actor_type', 'token_id', 'server', 'method', 'tool', 'decision', 'status', 'latency_ms', 'ip', 'detail'] as const;

/** One row's values, in AUDIT_COLUMNS order (bound positionally). */
export type AuditValues = [
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

export const SQLITE_AUDIT_INSERT = `INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

/** What the writer thread is started with. */
export interface AuditWorkerData {
  /** The SQLite database file (already migrated). */
  path: string;
  busyTimeoutMs: number;
}

/** Main thread → writer: a batch of rows, or 'close'. Writer → main: null (committed) or the failure. */
export type AuditWorkerRequest = AuditValues[] | 'close';
export type AuditWorkerReply = null | { message: string; code?: string };
