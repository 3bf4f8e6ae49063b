import { serviceAccountPrincipalId } from '../lib/principal-id.js';
import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { fromJson, toJson } from './json.js';
import { isUniqueViolation } from './users.js';
import { type ServiceAccountsTable } from './schema.js';

export interface ServiceAccountRecord {
  clientId: string;
  name: string;
  description: string;
  /** argon2id hash of the client secret; never leaves the auth layer. */
  secretHash: string;
  groups: string[];
  createdAt: string;
  updatedAt: string;
}

const toRecord = (r: ServiceAccountsTable): ServiceAccountRecord => ({
  clientId: r.client_id,
  name: r.name,
  description: r.description,
  secretHash: r.secret_hash,
  groups: fromJson<string[]>(r.groups, []),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class ServiceAccountStore {
  constructor(private readonly db: Db) {}

  /** Insert; returns 'conflict' when the name (or, improbably, the client id) is taken. */
  async create(a: { clientId: string; name: string; description: string; secretHash: string; groups: string[] }): Promise<ServiceAccountRecord | 'conflict'> {
    const ts = nowIso();
    const row: ServiceAccountsTable = {
      client_id: a.clientId,
      name: a.name,
      description: a.description,
      secret_hash: a.secretHash,
      groups: toJson(a.groups),
      created_at: ts,
      updated_at: ts,
    };
    try {
      await this.db.kysely.insertInto('service_accounts').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) return 'conflict';
      throw e;
    }
    return toRecord(row);
  }

  async byClientId(clientId: string): Promise<ServiceAccountRecord | undefined> {
    const r = await this.db.kysely.selectFrom('service_accounts').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async byName(name: string): Promise<ServiceAccountRecord | undefined> {
    const r = await this.db.kysely.selectFrom('service_accounts').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async list(): Promise<ServiceAccountRecord[]> {
    return (await this.db.kysely.selectFrom('service_accounts').selectAll().orderBy('created_at').orderBy('client_id').execute()).map(toRecord);
  }

  /** Replace the secret hash; the old secret stops verifying at once. */
  async setSecretHash(clientId: string, secretHash: string): Promise<ServiceAccountRecord | undefined> {
    const r = await this.db.kysely
      .updateTable('service_accounts')
      .set({ secret_hash: secretHash, updated_at: nowIso() })
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) ? this.byClientId(clientId) : undefined;
  }

  async update(clientId: string, patch: { groups?: string[]; description?: string }): Promise<ServiceAccountRecord | undefined> {
    const upd: Partial<ServiceAccountsTable> = { updated_at: nowIso() };
    if (patch.groups !== undefined) upd.groups = toJson(patch.groups);
    if (patch.description !== undefined) upd.description = patch.description;
    const r = await this.db.kysely.updateTable('service_accounts').set(upd).where('client_id', '=', clientId).executeTakeFirst();
    return Number(r.numUpdatedRows) ? this.byClientId(clientId) : undefined;
  }

  /** Delete the account and revoke its API tokens in one transaction. */
  async delete(clientId: string): Promise<boolean> {
    return this.db.kysely.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('service_accounts').where('client_id', '=', clientId).executeTakeFirst();
      if (!Number(r.numDeletedRows)) return false;
      await trx.updateTable('api_tokens').set({ revoked_at: nowIso() }).where('owner_id', '=', clientId).where('revoked_at', 'is', null).execute();
      await trx.deleteFrom('user_credentials').where('principal_id', '=', serviceAccountPrincipalId(clientId)).execute();
      return true;
    });
  }
}
