/**
 * The off-thread SQLite writer of a file-backed store (src/store/sqlite-writer.ts):
 * audit rows are committed by the worker's own connection and read back on the
 * main one; a failed batch rejects alone; a dead worker is replaced; close
 * drains; an idle writer never keeps a process alive; `:memory:` writes in-thread.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/lib/crypto.js';
import { openStore, type Store } from '../../src/store/index.js';
import { SqliteWriteError, SqliteWriter } from '../../src/store/sqlite-writer.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  while (stores.length) await stores.pop()!.close();
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pcl-writer-'));
  dirs.push(d);
  return d;
}

async function fileStore(): Promise<Store> {
  const s = await openStore(`sqlite:${join(tempDir(), 'p.db')}`);
  stores.push(s);
  return s;
}

const event = (i: number, id = uuidv7()) => ({
  id,
  ts: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  action: 'mcp.request' as const,
  actor: `u${i}`,
  actorType: 'user' as const,
  server: 'demo',
  method: 'tools/call',
  tool: 'echo',
  decision: 'allow' as const,
  status: 200,
  latencyMs: 1.5,
  ip: '127.0.0.1',
  detail: { n: i },
});

const writerOf = (s: Store): SqliteWriter => {
  expect(s.db.sqliteWriter).toBeDefined();
  return s.db.sqliteWriter!;
};

describe('SQLite off-thread writer', () => {
  it("commits audit rows on the worker's connection; the main connection reads them back in full", async () => {
    const s = await fileStore();
    const w = writerOf(s);
    await s.audit.insertMany([event(1), event(2), event(3)]);
    await s.audit.insertMany([event(4)]);
    expect(w.rowsWritten).toBe(4);
    expect(w.workersStarted).toBe(1);
    const rows = await s.audit.query({ actions: ['mcp.request'], limit: 10 });
    expect(rows.map((r) => r.actor)).toEqual(['u4', 'u3', 'u2', 'u1']);
    expect(rows[0]).toMatchObject({ server: 'demo', method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latencyMs: 1.5, ip: '127.0.0.1', detail: { n: 4 } });
  });

  it('a batch that fails rejects with SQLite’s code and writes none of its rows; the next batch is written', async () => {
    const s = await fileStore();
    const w = writerOf(s);
    const dup = uuidv7();
    await s.audit.insertMany([event(1, dup)]);
    const err = await s.audit.insertMany([event(2), event(3, dup)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqliteWriteError);
    expect((err as SqliteWriteError).code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    await s.audit.insertMany([event(4)]);
    const actors = (await s.audit.query({ actions: ['mcp.request'], limit: 10 })).map((r) => r.actor);
    expect(actors).toEqual(['u4', 'u1']);
    expect(w.rowsWritten).toBe(2);
  });

  it('a worker that dies fails its pending batches; the next write starts a new worker', async () => {
    // The worker dies on start while its database's directory does not exist yet.
    const dir = join(tempDir(), 'later');
    const w = new SqliteWriter(join(dir, 'p.db'));
    try {
      await expect(w.write('INSERT INTO t (x) VALUES (?)', [[1]])).rejects.toThrow(/directory does not exist|unable to open/i);
      expect(w.workersStarted).toBe(1);
      mkdirSync(dir);
      const main = new Database(join(dir, 'p.db'));
      main.pragma('journal_mode = WAL');
      main.exec('CREATE TABLE t (x INTEGER)');
      await w.write('INSERT INTO t (x) VALUES (?)', [[2], [3]]);
      expect(w.workersStarted).toBe(2);
      expect(w.rowsWritten).toBe(2);
      expect(main.prepare('SELECT x FROM t ORDER BY x').all()).toEqual([{ x: 2 }, { x: 3 }]);
      main.close();
    } finally {
      await w.close();
    }
  });

  it('close waits for the batches handed over, then refuses more', async () => {
    const s = await openStore(`sqlite:${join(tempDir(), 'p.db')}`);
    const w = writerOf(s);
    const writes = [1, 2, 3].map((i) => s.audit.insertMany([event(i)]));
    await s.close();
    await Promise.all(writes);
    expect(w.rowsWritten).toBe(3);
    await expect(w.write('SELECT 1', [[1]])).rejects.toThrow(/closed/);
  });

  it('an idle writer does not keep the process alive (a command that forgets to close still exits)', () => {
    const dir = tempDir();
    const script = join(dir, 'child.mjs');
    const dist = join(process.cwd(), 'dist');
    writeFileSync(
      script,
      `import { openStore } from ${JSON.stringify(join(dist, 'store/index.js'))};
const s = await openStore(${JSON.stringify(`sqlite:${join(dir, 'c.db')}`)});
await s.audit.insertMany([{ id: 'a', ts: '2026-01-01T00:00:00.000Z', action: 'mcp.request' }]);
process.stdout.write(String(s.db.sqliteWriter.rowsWritten));
`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('1');
  });

  it('a :memory: store has no writer thread and writes on the main connection', async () => {
    const s = await openStore('sqlite::memory:');
    stores.push(s);
    expect(s.db.sqliteWriter).toBeUndefined();
    await s.audit.insertMany([event(1), event(2)]);
    expect(await s.audit.query({ actions: ['mcp.request'], limit: 10 })).toHaveLength(2);
  });
});
