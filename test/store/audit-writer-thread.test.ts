import { afterEach, describe, expect, it } from 'vitest';
import { type AuditEvent } from '../../src/audit/types.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createSqliteDatabase, type TestDb } from '../helpers/db.js';

// The SQLite audit writer thread (src/store/audit-worker.ts): batches commit on
// a second connection off the event loop; failures reach the caller; closing
// the store commits what is pending first.

const open: { store: Store; db: TestDb }[] = [];
afterEach(async () => {
  while (open.length) {
    const { store, db } = open.pop()!;
    await store.close().catch(() => {});
    await db.drop();
  }
});

async function sqliteStore(opts: { migrate?: boolean } = {}): Promise<{ store: Store; db: TestDb }> {
  const db = createSqliteDatabase();
  const store = await openStore(db.url, opts);
  const s = { store, db };
  open.push(s);
  return s;
}

let seq = 0;
const events = (n: number, actor = 'thread-test'): (AuditEvent & { id: string; ts: string })[] =>
  Array.from({ length: n }, () => {
    const i = seq++;
    return { id: `evt-${String(i).padStart(8, '0')}`, ts: new Date(1_790_000_000_000 + i).toISOString(), action: 'mcp.request', actor, actorType: 'user', server: 'demo', method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latencyMs: 1.25, ip: '192.0.2.7', detail: { n: i } };
  });

/** The thread's worker (private): the tests below kill it or watch its thread id. */
const workerOf = (store: Store) => (store.audit as unknown as { thread: { worker: import('node:worker_threads').Worker } | null }).thread?.worker;

describe('audit writer thread (SQLite file)', () => {
  it('commits batches on a worker thread; rows read back field for field through the main connection', async () => {
    const { store } = await sqliteStore();
    expect(store.audit.useWriterThread()).toBe(true);
    expect(workerOf(store)?.threadId).toBeGreaterThan(0);
    const batch = events(150, 'field-check');
    await Promise.all([store.audit.insertMany(batch.slice(0, 100)), store.audit.insertMany(batch.slice(100))]);
    const rows = await store.audit.query({ actor: 'field-check', limit: 500 });
    expect(rows).toHaveLength(150);
    const last = batch[149];
    expect(rows[0]).toEqual({
      id: last.id, ts: last.ts, action: 'mcp.request', actor: 'field-check', actorType: 'user', tokenId: null, server: 'demo',
      method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latencyMs: 1.25, ip: '192.0.2.7', detail: { n: (last.detail as { n: number }).n },
    });
  });

  it('is not used for an in-memory database (private to its connection)', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      expect(store.audit.useWriterThread()).toBe(false);
      await store.audit.insertMany(events(3, 'memory'));
      expect(await store.audit.query({ actor: 'memory', limit: 10 })).toHaveLength(3);
    } finally {
      await store.close();
    }
  });

  it('reports a batch the thread cannot write (no audit table) to the caller', async () => {
    const { store } = await sqliteStore({ migrate: false });
    expect(store.audit.useWriterThread()).toBe(true);
    await expect(store.audit.insertMany(events(2))).rejects.toThrow(/audit writer thread: no such table: audit_events/);
  });

  it('waits for a write transaction held by the main connection, then commits', async () => {
    const { store } = await sqliteStore();
    store.audit.useWriterThread();
    await store.audit.insertMany(events(1, 'warm-up')); // the thread is up
    const raw = store.db.sqlite!;
    raw.exec('BEGIN IMMEDIATE');
    raw.prepare("INSERT INTO settings (key, value) VALUES ('thread-test', '1')").run();
    let done = false;
    const writing = store.audit.insertMany(events(5, 'behind-lock')).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false); // blocked by the main connection's lock, not failed
    raw.exec('COMMIT');
    await writing;
    expect(await store.audit.query({ actor: 'behind-lock', limit: 10 })).toHaveLength(5);
  });

  it('a dead thread fails its pending batch; later batches are written on the main thread', async () => {
    const { store } = await sqliteStore();
    store.audit.useWriterThread();
    await store.audit.insertMany(events(1, 'warm-up'));
    const worker = workerOf(store)!;
    const pending = store.audit.insertMany(events(4, 'lost'));
    await worker.terminate();
    await expect(pending).rejects.toThrow(/audit writer thread exited/);
    await store.audit.insertMany(events(3, 'after'));
    expect(await store.audit.query({ actor: 'after', limit: 10 })).toHaveLength(3);
  });

  it('closing the store commits pending batches first, then ends the thread', async () => {
    const { store, db } = await sqliteStore();
    store.audit.useWriterThread();
    const worker = workerOf(store)!;
    const exited = new Promise<number>((r) => worker.once('exit', r));
    const writes = [store.audit.insertMany(events(100, 'at-close')), store.audit.insertMany(events(100, 'at-close'))];
    await store.close();
    await Promise.all(writes);
    expect(await exited).toBe(0);
    open.pop(); // closed here; only the file remains to drop
    const again = await openStore(db.url);
    try {
      expect(await again.audit.query({ actor: 'at-close', limit: 500 })).toHaveLength(200);
    } finally {
      await again.close();
      await db.drop();
    }
  });
});
