import { type GroupDef, type Grant } from '../config/schema.js';
import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { isUniqueViolation } from './users.js';
import { type GroupsTable } from './schema.js';

export interface GroupRecord {
  name: string;
  description: string;
  grants: Grant[];
  source: 'config' | 'api';
  createdAt: string;
  updatedAt: string;
}

const toRecord = (r: GroupsTable): GroupRecord => ({
  name: r.name,
  description: r.description,
  grants: fromJson<Grant[]>(r.grants, []),
  source: r.source === 'config' ? 'config' : 'api',
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class GroupStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<GroupRecord[]> {
    return (await this.db.kysely.selectFrom('groups').selectAll().orderBy('name').execute()).map(toRecord);
  }

  async get(name: string): Promise<GroupRecord | undefined> {
    const r = await this.db.kysely.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  /** Insert; returns 'conflict' when the name exists. */
  async create(g: GroupDef, source: 'config' | 'api' = 'api'): Promise<GroupRecord | 'conflict'> {
    const ts = nowIso();
    const row: GroupsTable = { name: g.name, description: g.description ?? '', grants: toJson(g.grants ?? []), source, created_at: ts, updated_at: ts };
    try {
      await this.db.kysely.insertInto('groups').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) return 'conflict';
      throw e;
    }
    return toRecord(row);
  }

  /** Insert or replace (used by import and by config sync). */
  async upsert(g: GroupDef, source: 'config' | 'api'): Promise<GroupRecord> {
    const ts = nowIso();
    const row: GroupsTable = { name: g.name, description: g.description ?? '', grants: toJson(g.grants ?? []), source, created_at: ts, updated_at: ts };
    await this.db.kysely
      .insertInto('groups')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet({ description: row.description, grants: row.grants, source: row.source, updated_at: ts }))
      .execute();
    return (await this.get(g.name))!;
  }

  async update(name: string, patch: { description?: string; grants?: Grant[] }): Promise<GroupRecord | undefined> {
    const upd: Partial<GroupsTable> = { updated_at: nowIso() };
    if (patch.description !== undefined) upd.description = patch.description;
    if (patch.grants !== undefined) upd.grants = toJson(patch.grants);
    const r = await this.db.kysely.updateTable('groups').set(upd).where('name', '=', name).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(name);
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.kysely.deleteFrom('groups').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Make the stored config-sourced groups equal the config file's list. */
  async syncFromConfig(groups: readonly GroupDef[]): Promise<void> {
    const names = new Set(groups.map((g) => g.name));
    for (const g of groups) await this.upsert(g, 'config');
    const stale = (await this.list()).filter((g) => g.source === 'config' && !names.has(g.name));
    for (const g of stale) await this.delete(g.name);
  }
}
