import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { type ApiTokensTable } from './schema.js';

export interface ApiTokenRecord {
  id: string;
  ownerId: string;
  ownerType: 'user' | 'service_account';
  name: string;
  prefix: string;
  tokenHash: string;
  /** null = all of the owner's rights */
  scopes: string[] | null;
  /** null = every server the owner may use */
  servers: string[] | null;
  expiresAt: string | null;
  rateLimitPerHour: number | null;
  createdAt: string;
  lastUsedAt: string | null;
  useCount: number;
  revokedAt: string | null;
}

const toRecord = (r: ApiTokensTable): ApiTokenRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  ownerType: r.owner_type === 'service_account' ? 'service_account' : 'user',
  name: r.name,
  prefix: r.prefix,
  tokenHash: r.token_hash,
  scopes: fromJson<string[] | null>(r.scopes, null),
  servers: fromJson<string[] | null>(r.servers, null),
  expiresAt: r.expires_at,
  rateLimitPerHour: r.rate_limit_per_hour === null ? null : Number(r.rate_limit_per_hour),
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  useCount: Number(r.use_count),
  revokedAt: r.revoked_at,
});

export class ApiTokenStore {
  constructor(private readonly db: Db) {}

  async insert(t: Omit<ApiTokenRecord, 'createdAt' | 'lastUsedAt' | 'useCount' | 'revokedAt'>): Promise<ApiTokenRecord> {
    const row: ApiTokensTable = {
      id: t.id,
      owner_id: t.ownerId,
      owner_type: t.ownerType,
      name: t.name,
      prefix: t.prefix,
      token_hash: t.tokenHash,
      scopes: t.scopes ? toJson(t.scopes) : null,
      servers: t.servers ? toJson(t.servers) : null,
      expires_at: t.expiresAt,
      rate_limit_per_hour: t.rateLimitPerHour,
      created_at: nowIso(),
      last_used_at: null,
      use_count: 0,
      revoked_at: null,
    };
    await this.db.kysely.insertInto('api_tokens').values(row).execute();
    return toRecord(row);
  }

  async byHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.kysely.selectFrom('api_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async byId(id: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.kysely.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  /** Live (unrevoked) tokens; of one owner, or all when ownerId is undefined. */
  async list(ownerId?: string): Promise<ApiTokenRecord[]> {
    let q = this.db.kysely.selectFrom('api_tokens').selectAll().where('revoked_at', 'is', null);
    if (ownerId !== undefined) q = q.where('owner_id', '=', ownerId);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(toRecord);
  }

  async update(id: string, patch: { name?: string; scopes?: string[] | null; servers?: string[] | null; rateLimitPerHour?: number | null }): Promise<ApiTokenRecord | undefined> {
    const upd: Partial<ApiTokensTable> = {};
    if (patch.name !== undefined) upd.name = patch.name;
    if (patch.scopes !== undefined) upd.scopes = patch.scopes ? toJson(patch.scopes) : null;
    if (patch.servers !== undefined) upd.servers = patch.servers ? toJson(patch.servers) : null;
    if (patch.rateLimitPerHour !== undefined) upd.rate_limit_per_hour = patch.rateLimitPerHour;
    if (Object.keys(upd).length) await this.db.kysely.updateTable('api_tokens').set(upd).where('id', '=', id).where('revoked_at', 'is', null).execute();
    return this.byId(id);
  }

  /** Replace the secret (rotation): the old hash stops matching at once. */
  async rotate(id: string, newHash: string, newPrefix: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.kysely.updateTable('api_tokens').set({ token_hash: newHash, prefix: newPrefix }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) ? this.byId(id) : undefined;
  }

  async revoke(id: string): Promise<ApiTokenRecord | undefined> {
    const cur = await this.byId(id);
    if (!cur || cur.revokedAt) return undefined;
    await this.db.kysely.updateTable('api_tokens').set({ revoked_at: nowIso() }).where('id', '=', id).execute();
    return cur;
  }

  async revokeByOwner(ownerId: string): Promise<ApiTokenRecord[]> {
    const live = await this.list(ownerId);
    if (live.length) await this.db.kysely.updateTable('api_tokens').set({ revoked_at: nowIso() }).where('owner_id', '=', ownerId).where('revoked_at', 'is', null).execute();
    return live;
  }

  /** Apply batched usage counters (flushed periodically, never per request). */
  async addUsage(usage: Map<string, { count: number; lastUsedAt: string; servers: Map<string, number> }>): Promise<void> {
    if (usage.size === 0) return;
    await this.db.kysely.transaction().execute(async (trx) => {
      for (const [id, u] of usage) {
        await trx
          .updateTable('api_tokens')
          .set((eb) => ({ use_count: eb('use_count', '+', u.count), last_used_at: u.lastUsedAt }))
          .where('id', '=', id)
          .execute();
        for (const [server, n] of u.servers) {
          await trx
            .insertInto('api_token_usage')
            .values({ token_id: id, server, count: n })
            .onConflict((oc) => oc.columns(['token_id', 'server']).doUpdateSet((eb) => ({ count: eb('api_token_usage.count', '+', n) })))
            .execute();
        }
      }
    });
  }

  async usageByServer(id: string): Promise<Record<string, number>> {
    const rows = await this.db.kysely.selectFrom('api_token_usage').select(['server', 'count']).where('token_id', '=', id).execute();
    return Object.fromEntries(rows.map((r) => [r.server, Number(r.count)]));
  }
}
