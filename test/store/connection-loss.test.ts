/**
 * A PostgreSQL connection that the server ends while it is checked out (a
 * transaction between two queries: a restart, a failover, an administrator's
 * pg_terminate_backend) fails that transaction and is reported, instead of
 * being an unhandled 'error' event that ends the gateway; the pool then
 * serves the next query on a new connection. (pg-pool only listens on idle
 * clients; without a listener of our own this crashed the process.)
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/store/index.js';
import { adminQuery, createPgDatabase, type TestDb } from '../helpers/db.js';

describe('postgres connection lost while checked out', () => {
  let tdb: TestDb;
  let db: Db;
  const errors: Error[] = [];
  beforeAll(async () => {
    tdb = await createPgDatabase();
    db = await openDb(tdb.url, { poolSize: 2, onConnectionError: (e) => errors.push(e) });
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('fails the transaction, reports the error, and the pool recovers', async () => {
    const tx = db.kysely.transaction().execute(async (trx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      // the connection is checked out and idle: no query of ours is active on it
      await adminQuery('select pg_terminate_backend($1)', [rows[0]!.pid]);
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await sql`select 1`.execute(trx);
    });
    await expect(tx).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 100));
    // one report for the one lost connection
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error & { code?: string }).code).toBe('57P01'); // admin_shutdown
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db.kysely);
    expect(rows).toEqual([{ one: 1 }]);
  });
});
