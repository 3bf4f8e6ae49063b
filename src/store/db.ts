import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { CodeMigrationProvider } from './migrations/index.js';
import { type Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** The SQLite handle itself, for bulk writes with cached prepared statements (audit). */
  sqlite?: import('better-sqlite3').Database;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  poolSize?: number;
  /** A PostgreSQL connection failed (server restart, failover, terminated backend); the pool replaces it. */
  onConnectionError?: (e: Error) => void;
}

/** Open the configured store (`sqlite:PATH` or `postgres://...`). Does not migrate. */
export async function openDb(url: string, opts: OpenDbOptions = {}): Promise<Db> {
  if (url.startsWith('sqlite:')) {
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    const path = url.slice('sqlite:'.length);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const database = new BetterSqlite3(path);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return { kysely, dialect: 'sqlite', sqlite: database, close: () => kysely.destroy() };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pg = await import('pg');
    const Pool = pg.default.Pool;
    const pool = new Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // pg-pool listens for errors only on idle clients. A client checked out by
    // a transaction (or between acquire and its query) has no listener, so a
    // server-side termination then is an unhandled 'error' event that ends the
    // process. Every client gets its own listener for its whole life; the query
    // in flight fails, and pg-pool discards the client when it is released (it
    // is no longer queryable). Reported once per connection (pg emits the
    // server's termination notice and then the socket's end); the pool's
    // re-emission of idle errors is already reported by that listener.
    const onError = opts.onConnectionError ?? (() => {});
    pool.on('connect', (client) => {
      let reported = false;
      client.on('error', (e) => {
        if (reported) return;
        reported = true;
        onError(e);
      });
    });
    pool.on('error', () => {});
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { kysely, dialect: 'postgres', close: () => kysely.destroy() };
  }
  throw new TypeError('storage.url must be sqlite:PATH or postgres://...');
}

/**
 * Run pending migrations. Kysely's migrator takes a lock (a row lock on
 * PostgreSQL), so replicas starting together migrate exactly once.
 */
export async function migrate(db: Db): Promise<{ applied: string[] }> {
  const migrator = new Migrator({ db: db.kysely, provider: new CodeMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db.kysely);
}
