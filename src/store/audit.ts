import { type AuditEvent } from '../audit/types.js';
import { type Db } from './db.js';
import { toJson } from './json.js';
import { type AuditEventsTable } from './schema.js';

export class AuditStore {
  constructor(private readonly db: Db) {}

  async insertMany(events: (AuditEvent & { id: string; ts: string })[]): Promise<void> {
    if (!events.length) return;
    const rows: AuditEventsTable[] = events.map((e) => ({
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
    }));
    for (let i = 0; i < rows.length; i += 200) await this.db.kysely.insertInto('audit_events').values(rows.slice(i, i + 200)).execute();
  }
}
