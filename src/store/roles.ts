import { sql } from 'kysely';
import { type Permission } from '../config/schema.js';
import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { isUniqueViolation } from './users.js';
import { type RolesTable } from './schema.js';

/** A custom role made through the API. */
export interface RoleRecord {
  name: string;
  description: string;
  permissions: Permission[];
  createdAt: string;
  updatedAt: string;
}

const toRecord = (r: RolesTable): RoleRecord => ({
  name: r.name,
  description: r.description,
  permissions: fromJson<Permission[]>(r.permissions, []),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class RoleStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<RoleRecord[]> {
    return (await this.db.kysely.selectFrom('roles').selectAll().orderBy('name').execute()).map(toRecord);
  }

  async get(name: string): Promise<RoleRecord | undefined> {
    const r = await this.db.kysely.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async create(r: { name: string; description: string; permissions: Permission[] }): Promise<RoleRecord | 'conflict'> {
    const ts = nowIso();
    const row: RolesTable = { name: r.name, description: r.description, permissions: toJson(r.permissions), created_at: ts, updated_at: ts };
    try {
      await this.db.kysely.insertInto('roles').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) return 'conflict';
      throw e;
    }
    return toRecord(row);
  }

  async update(name: string, patch: { description?: string; permissions?: Permission[] }): Promise<RoleRecord | undefined> {
    const upd: Partial<RolesTable> = { updated_at: nowIso() };
    if (patch.description !== undefined) upd.description = patch.description;
    if (patch.permissions !== undefined) upd.permissions = toJson(patch.permissions);
    const r = await this.db.kysely.updateTable('roles').set(upd).where('name', '=', name).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(name);
  }

  /**
   * Delete unless a user holds the role: 'in_use' with their count. The check
   * and the delete share a transaction and, on PostgreSQL, the advisory lock
   * user updates take, so a concurrent role assignment cannot slip between.
   */
  async delete(name: string): Promise<'ok' | 'not_found' | { inUse: number }> {
    return this.db.kysely.transaction().execute(async (trx) => {
      if (this.db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(7270701)`.execute(trx);
      const users = await trx.selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('n')).where('role', '=', name).executeTakeFirstOrThrow();
      if (Number(users.n) > 0) return { inUse: Number(users.n) };
      const r = await trx.deleteFrom('roles').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0 ? 'ok' : 'not_found';
    });
  }

  /** How many users hold each role (for listings). */
  async userCounts(): Promise<Map<string, number>> {
    const rows = await this.db.kysely
      .selectFrom('users')
      .select(['role', (eb) => eb.fn.countAll<string | number>().as('n')])
      .groupBy('role')
      .execute();
    return new Map(rows.map((r) => [r.role, Number(r.n)]));
  }
}
