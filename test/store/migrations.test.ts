/**
 * Migrations: idempotent on every backend; on PostgreSQL, replicas starting
 * together on a fresh database both succeed and apply each migration once.
 */
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodeMigrationProvider } from '../../src/store/migrations/index.js';
import { migrate, openDb, type Db } from '../../src/store/index.js';
import { BACKENDS, createDatabase, createPgDatabase, type TestDb } from '../helpers/db.js';

async function allMigrationNames(): Promise<string[]> {
  return Object.keys(await new CodeMigrationProvider().getMigrations()).sort();
}

async function executed(db: Db): Promise<string[]> {
  const r = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db.kysely);
  return r.rows.map((x) => x.name);
}

describe.each(BACKENDS)('migrations on %s', (backend) => {
  let tdb: TestDb;
  let db: Db;
  beforeAll(async () => {
    tdb = await createDatabase(backend);
    db = await openDb(tdb.url, { poolSize: 2 });
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('a fresh database gets every migration, in name order', async () => {
    const { applied } = await migrate(db);
    expect(applied).toEqual(await allMigrationNames());
    expect(await executed(db)).toEqual(await allMigrationNames());
  });

  it('running again applies nothing and changes nothing', async () => {
    const before = await executed(db);
    expect((await migrate(db)).applied).toEqual([]);
    expect((await migrate(db)).applied).toEqual([]);
    expect(await executed(db)).toEqual(before);
  });

  it('the migrated schema is usable', async () => {
    await db.kysely.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
    const r = await db.kysely.selectFrom('settings').select('value').where('key', '=', 'k').executeTakeFirst();
    expect(r?.value).toBe('v');
  });
});

describe.each(BACKENDS)('0002_refresh_family_expiry on %s', (backend) => {
  let tdb: TestDb;
  let db: Db;
  beforeAll(async () => {
    tdb = await createDatabase(backend);
    db = await openDb(tdb.url, { poolSize: 2 });
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('families revoked before it are recorded with their latest revocation and their last token expiry', async () => {
    const migrator = new Migrator({ db: db.kysely, provider: new CodeMigrationProvider() });
    const to1 = await migrator.migrateTo('0001_initial');
    expect(to1.error).toBeUndefined();
    const tok = (id: string, family: string, expires: string, revoked: string | null) => ({
      id, family_id: family, user_id: 'u', token_hash: `h-${id}`, expires_at: expires, used_at: null, revoked_at: revoked, created_at: '2026-01-01T00:00:00.000Z',
    });
    await db.kysely
      .insertInto('refresh_tokens')
      .values([
        tok('1', 'fam-a', '2026-02-01T00:00:00.000Z', '2026-01-10T00:00:00.000Z'),
        tok('2', 'fam-a', '2026-03-01T00:00:00.000Z', '2026-01-12T00:00:00.000Z'),
        tok('3', 'fam-b', '2026-02-15T00:00:00.000Z', null),
      ])
      .execute();
    expect((await migrate(db)).applied).toContain('0002_refresh_family_expiry');
    const rows = await db.kysely.selectFrom('revoked_refresh_families').selectAll().execute();
    expect(rows).toEqual([{ family_id: 'fam-a', revoked_at: '2026-01-12T00:00:00.000Z', expires_at: '2026-03-01T00:00:00.000Z' }]);
  });
});

describe('migrations on postgres: concurrent replicas', () => {
  let tdb: TestDb;
  const dbs: Db[] = [];
  beforeAll(async () => {
    tdb = await createPgDatabase();
  });
  afterAll(async () => {
    for (const d of dbs) await d.close();
    await tdb?.drop();
  });

  it('two concurrent migrate() calls on a fresh database both succeed and apply each migration once', async () => {
    const a = await openDb(tdb.url, { poolSize: 2 });
    const b = await openDb(tdb.url, { poolSize: 2 });
    dbs.push(a, b);
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    const all = await allMigrationNames();
    // every migration applied by exactly one of them
    expect([...ra.applied, ...rb.applied].sort()).toEqual(all);
    expect(await executed(a)).toEqual(all);
  });
});
