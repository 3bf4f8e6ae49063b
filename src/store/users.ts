import { sql, type Transaction } from 'kysely';
import { type Role } from '../config/schema.js';
import { nowIso } from '../lib/time.js';
import { uuid } from '../lib/crypto.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { type Database, type UsersTable } from './schema.js';

export interface UserRecord {
  id: string;
  email: string;
  username: string | null;
  name: string | null;
  passwordHash: string | null;
  role: Role;
  groups: string[];
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

const toRecord = (r: UsersTable): UserRecord => ({
  id: r.id,
  email: r.email,
  username: r.username,
  name: r.name,
  passwordHash: r.password_hash,
  role: r.role as Role,
  groups: fromJson<string[]>(r.groups, []),
  disabled: !!r.disabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NewUser {
  email: string;
  username?: string | null;
  name?: string | null;
  passwordHash: string | null;
  role?: Role;
  groups?: string[];
}

export class UniqueViolation extends Error {
  constructor(readonly field: string) {
    super(`${field} already exists`);
  }
}

export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const BOOTSTRAP_KEY = 'bootstrap_admin';

export class UserStore {
  constructor(private readonly db: Db) {}

  /**
   * Create a user. With `firstBecomesAdmin`, the very first user ever becomes
   * admin: a unique `settings` row is claimed in the same transaction, so of
   * concurrent first registrations exactly one wins (PostgreSQL blocks the
   * loser on the primary key until the winner commits; SQLite serializes writers).
   */
  async create(u: NewUser, opts: { firstBecomesAdmin?: boolean } = {}): Promise<UserRecord> {
    const ts = nowIso();
    const id = uuid();
    try {
      return await this.db.kysely.transaction().execute(async (trx) => {
        let role: Role = u.role ?? 'user';
        if (opts.firstBecomesAdmin) {
          const claimed = await trx
            .insertInto('settings')
            .values({ key: BOOTSTRAP_KEY, value: id })
            .onConflict((oc) => oc.column('key').doNothing())
            .executeTakeFirst();
          if (Number(claimed.numInsertedOrUpdatedRows ?? 0) === 1) role = 'admin';
        }
        const row: UsersTable = {
          id,
          email: u.email,
          email_lower: u.email.toLowerCase(),
          username: u.username ?? null,
          username_lower: u.username ? u.username.toLowerCase() : null,
          name: u.name ?? null,
          password_hash: u.passwordHash,
          role,
          groups: toJson(u.groups ?? []),
          disabled: 0,
          created_at: ts,
          updated_at: ts,
        };
        await trx.insertInto('users').values(row).execute();
        return toRecord(row);
      });
    } catch (e) {
      if (isUniqueViolation(e)) {
        const msg = String((e as Error).message);
        throw new UniqueViolation(msg.includes('username') ? 'username' : 'email');
      }
      throw e;
    }
  }

  /** Mark the bootstrap as done without creating an admin (e.g. `users create --role admin`). */
  async markBootstrapped(userId: string): Promise<void> {
    await this.db.kysely.insertInto('settings').values({ key: BOOTSTRAP_KEY, value: userId }).onConflict((oc) => oc.column('key').doNothing()).execute();
  }

  async byId(id: string): Promise<UserRecord | undefined> {
    const r = await this.db.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async byLogin(login: string): Promise<UserRecord | undefined> {
    const l = login.toLowerCase();
    const r = await this.db.kysely
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('email_lower', '=', l), eb('username_lower', '=', l)]))
      .executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async list(opts: { limit?: number; offset?: number } = {}): Promise<UserRecord[]> {
    const rows = await this.db.kysely
      .selectFrom('users')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .limit(opts.limit ?? 1000)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toRecord);
  }

  async count(): Promise<number> {
    const r = await this.db.kysely.selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * Update role/groups/disabled. Refuses (returns 'last_admin') a change that
   * would leave no enabled admin; the check and the write share a transaction
   * and, on PostgreSQL, an advisory lock that serializes admin changes.
   */
  async update(
    id: string,
    patch: { role?: Role; groups?: string[]; disabled?: boolean; passwordHash?: string; name?: string | null },
  ): Promise<UserRecord | 'not_found' | 'last_admin'> {
    return this.db.kysely.transaction().execute(async (trx) => {
      await this.lockAdmins(trx);
      const cur = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!cur) return 'not_found';
      const losesAdmin =
        cur.role === 'admin' && !cur.disabled && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
      if (losesAdmin && (await this.otherEnabledAdmins(trx, id)) === 0) return 'last_admin';
      const upd: Partial<UsersTable> = { updated_at: nowIso() };
      if (patch.role !== undefined) upd.role = patch.role;
      if (patch.groups !== undefined) upd.groups = toJson(patch.groups);
      if (patch.disabled !== undefined) upd.disabled = patch.disabled ? 1 : 0;
      if (patch.passwordHash !== undefined) upd.password_hash = patch.passwordHash;
      if (patch.name !== undefined) upd.name = patch.name;
      await trx.updateTable('users').set(upd).where('id', '=', id).execute();
      return toRecord({ ...cur, ...upd } as UsersTable);
    });
  }

  async delete(id: string): Promise<'ok' | 'not_found' | 'last_admin'> {
    return this.db.kysely.transaction().execute(async (trx) => {
      await this.lockAdmins(trx);
      const cur = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!cur) return 'not_found';
      if (cur.role === 'admin' && !cur.disabled && (await this.otherEnabledAdmins(trx, id)) === 0) return 'last_admin';
      await trx.deleteFrom('users').where('id', '=', id).execute();
      await trx.updateTable('api_tokens').set({ revoked_at: nowIso() }).where('owner_id', '=', id).where('revoked_at', 'is', null).execute();
      await trx.updateTable('refresh_tokens').set({ revoked_at: nowIso() }).where('user_id', '=', id).where('revoked_at', 'is', null).execute();
      await trx.deleteFrom('user_credentials').where('principal_id', '=', id).execute();
      return 'ok';
    });
  }

  /** Serialize admin-affecting changes (PostgreSQL advisory lock; SQLite serializes writers already). */
  private async lockAdmins(trx: Transaction<Database>): Promise<void> {
    if (this.db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(7270701)`.execute(trx);
  }

  private async otherEnabledAdmins(trx: Transaction<Database>, exceptId: string): Promise<number> {
    const rows = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled', '=', 0).where('id', '!=', exceptId).execute();
    return rows.length;
  }
}
