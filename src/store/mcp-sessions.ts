import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { type McpSessionsTable } from './schema.js';

/**
 * MCP sessions bound to the principal that created them. Written once at
 * creation (never per message) so another replica can check ownership and
 * reach a Streamable HTTP upstream's session.
 */
export interface McpSessionRecord {
  /** Gateway-minted session id (what the client sees as Mcp-Session-Id). */
  id: string;
  server: string;
  principalId: string;
  /** The upstream's own Mcp-Session-Id, when it issued one. */
  upstreamSessionId: string | null;
  /** Replica that holds the session's process or stream (stdio and legacy SSE upstreams). */
  replica: string | null;
  createdAt: string;
  lastSeenAt: string;
}

const toRecord = (r: McpSessionsTable): McpSessionRecord => ({
  id: r.id,
  server: r.server,
  principalId: r.principal_id,
  upstreamSessionId: r.upstream_session_id,
  replica: r.replica,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
});

export class McpSessionStore {
  constructor(private readonly db: Db) {}

  async insert(s: Omit<McpSessionRecord, 'createdAt' | 'lastSeenAt'>): Promise<McpSessionRecord> {
    const ts = nowIso();
    const row: McpSessionsTable = {
      id: s.id,
      server: s.server,
      principal_id: s.principalId,
      upstream_session_id: s.upstreamSessionId,
      replica: s.replica,
      created_at: ts,
      last_seen_at: ts,
    };
    await this.db.kysely.insertInto('mcp_sessions').values(row).execute();
    return toRecord(row);
  }

  async get(id: string): Promise<McpSessionRecord | undefined> {
    const r = await this.db.kysely.selectFrom('mcp_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.kysely.deleteFrom('mcp_sessions').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Sessions of one server (e.g. to end them when the server is removed). */
  async listByServer(server: string): Promise<McpSessionRecord[]> {
    return (await this.db.kysely.selectFrom('mcp_sessions').selectAll().where('server', '=', server).execute()).map(toRecord);
  }

  /** Sessions of one principal seen at or after `sinceIso` (the per-principal session cap; a cold path). */
  async countOpen(principalId: string, sinceIso: string): Promise<number> {
    const r = await this.db.kysely
      .selectFrom('mcp_sessions')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('principal_id', '=', principalId)
      .where('last_seen_at', '>=', sinceIso)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Drop sessions not seen since `beforeIso` (housekeeping). */
  async deleteStale(beforeIso: string): Promise<number> {
    const r = await this.db.kysely.deleteFrom('mcp_sessions').where('last_seen_at', '<', beforeIso).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Touch last_seen_at (batched by the caller, never per message). */
  async touch(ids: readonly string[], at = nowIso()): Promise<void> {
    if (!ids.length) return;
    await this.db.kysely.updateTable('mcp_sessions').set({ last_seen_at: at }).where('id', 'in', [...ids]).execute();
  }
}
