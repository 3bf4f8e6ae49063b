import { type AuditRecord } from '../store/audit.js';
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
    detail: e.detail ?? null,
  };
}
