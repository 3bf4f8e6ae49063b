import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL = process.env.PORTCULLIS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestDb {
  url: string;
  drop(): Promise<void>;
}

/** One statement as the admin user, on its own connection (outside the test databases). */
export async function adminQuery(text: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(text, params);
  } finally {
    await c.end();
  }
}

/** A store outage: the database refuses new connections and its open ones are ended. Resolves to the undo. */
export async function pgOutage(dbName: string): Promise<() => Promise<void>> {
  await adminQuery(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
  await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [dbName]);
  return () => adminQuery(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
}

/** A fresh, empty PostgreSQL database for one test file. */
export async function createPgDatabase(): Promise<TestDb> {
  const name = `pcl_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A fresh SQLite file in a temp folder. */
export function createSqliteDatabase(): TestDb {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-sqlite-'));
  return {
    url: `sqlite:${join(dir, 'test.db')}`,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

export function createDatabase(backend: Backend): Promise<TestDb> {
  return backend === 'sqlite' ? Promise.resolve(createSqliteDatabase()) : createPgDatabase();
}
