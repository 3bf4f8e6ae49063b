import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';

/**
 * Per-user upstream credentials. The store only ever sees sealed ciphertext
 * (see src/lib/secretbox.ts); encryption and decryption happen in the proxy's
 * credential service.
 */
export interface CredentialRecord {
  principalId: string;
  server: string;
  ciphertext: string;
  createdAt: string;
  updatedAt: string;
}

export class CredentialStore {
  constructor(private readonly db: Db) {}

  async get(principalId: string, server: string): Promise<CredentialRecord | undefined> {
    const r = await this.db.kysely
      .selectFrom('user_credentials')
      .selectAll()
      .where('principal_id', '=', principalId)
      .where('server', '=', server)
      .executeTakeFirst();
    return r ? { principalId: r.principal_id, server: r.server, ciphertext: r.ciphertext, createdAt: r.created_at, updatedAt: r.updated_at } : undefined;
  }

  /** Insert or replace; returns true when a record was created (false: replaced). */
  async put(principalId: string, server: string, ciphertext: string): Promise<boolean> {
    const ts = nowIso();
    return this.db.kysely.transaction().execute(async (tx) => {
      const existing = await tx
        .selectFrom('user_credentials')
        .select('principal_id')
        .where('principal_id', '=', principalId)
        .where('server', '=', server)
        .executeTakeFirst();
      await tx
        .insertInto('user_credentials')
        .values({ principal_id: principalId, server, ciphertext, created_at: ts, updated_at: ts })
        .onConflict((oc) => oc.columns(['principal_id', 'server']).doUpdateSet({ ciphertext, updated_at: ts }))
        .execute();
      return !existing;
    });
  }

  async delete(principalId: string, server: string): Promise<boolean> {
    const r = await this.db.kysely.deleteFrom('user_credentials').where('principal_id', '=', principalId).where('server', '=', server).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Servers the principal has stored credentials for. */
  async serversOf(principalId: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('user_credentials').select('server').where('principal_id', '=', principalId).execute();
    return rows.map((r) => r.server);
  }

  /** Remove every record of a server (the server was deleted); returns the affected principals. */
  async deleteForServer(server: string): Promise<string[]> {
    const rows = await this.db.kysely.deleteFrom('user_credentials').where('server', '=', server).returning('principal_id').execute();
    return rows.map((r) => r.principal_id);
  }

  async count(): Promise<number> {
    const r = await this.db.kysely.selectFrom('user_credentials').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** How many records were NOT sealed with `prefix` (i.e. by another key or format). */
  async countNotPrefixed(prefix: string): Promise<number> {
    const r = await this.db.kysely
      .selectFrom('user_credentials')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('ciphertext', 'not like', `${prefix.replace(/[\\%_]/g, '\\$&')}%`)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
