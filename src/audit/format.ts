import { toAuditRow, type AuditRecord } from '../store/audit.js';
import { type AuditEvent } from './types.js';

/** The public shape of an audit event: API responses and stdout JSON lines. */
export interface PublicAuditEvent {
  id: string;
  ts: string;
  action: string;
  actor: string | null;
  actor_type: string | null;
  token_id: string | null;
  server: string | null;
  method: string | null;
  tool: string | null;
  decision: string | null;
  status: number | null;
  latency_ms: number | null;
  ip: string | null;
  detail: Record<string, unknown> | null;
}

export function publicAuditEvent(e: AuditRecord | (AuditEvent & { id: string; ts: string })): PublicAuditEvent {
  return { ...toAuditRow(e), detail: e.detail ?? null };
}
