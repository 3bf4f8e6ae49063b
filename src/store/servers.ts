import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { isUniqueViolation } from './users.js';
import { type ServersTable } from './schema.js';

/** A runtime-defined MCP server (config-file servers never live here). */
export interface ServerRecord {
  name: string;
  /** The definition as stored; validated by the proxy registry with serverSchema. */
  definition: unknown;
  createdAt: string;
  updatedAt: string;
}

const toRecord = (r: ServersTable): ServerRecord => ({
  name: r.name,
  definition: fromJson<unknown>(r.definition, null),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class ServerStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<ServerRecord[]> {
    return (await this.db.kysely.selectFrom('servers').selectAll().orderBy('name').execute()).map(toRecord);
  }

  async get(name: string): Promise<ServerRecord | undefined> {
    const r = await this.db.kysely.selectFrom('servers').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  /** Insert; 'conflict' when the name exists. */
  async create(name: string, definition: unknown): Promise<ServerRecord | 'conflict'> {
    const ts = nowIso();
    const row: ServersTable = { name, definition: toJson(definition), created_at: ts, updated_at: ts };
    try {
      await this.db.kysely.insertInto('servers').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) return 'conflict';
      throw e;
    }
    return toRecord(row);
  }

  async update(name: string, definition: unknown): Promise<ServerRecord | undefined> {
    const r = await this.db.kysely
      .updateTable('servers')
      .set({ definition: toJson(definition), updated_at: nowIso() })
      .where('name', '=', name)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(name);
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.kysely.deleteFrom('servers').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
