import { afterAll, beforeAll } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { createDatabase, type Backend, type TestDb } from './db.js';

export interface TestStore {
  store: Store;
  db: TestDb;
  close(): Promise<void>;
}

/** A migrated store on a fresh database of the given backend. */
export async function openTestStore(backend: Backend, poolSize = 10): Promise<TestStore> {
  const db = await createDatabase(backend);
  const store = await openStore(db.url, { poolSize });
  return {
    store,
    db,
    async close() {
      await store.close();
      await db.drop();
    },
  };
}

/**
 * A migrated store on a fresh database for the enclosing describe block:
 * opened before its tests, closed and dropped after them. The handle is
 * usable once the block's hooks have run (register it before your own
 * beforeAll, which then runs after it).
 */
export function useTestStore(backend: Backend, poolSize = 10): { readonly store: Store; readonly db: TestDb } {
  let t: TestStore | undefined;
  beforeAll(async () => {
    t = await openTestStore(backend, poolSize);
  });
  afterAll(async () => t?.close());
  const opened = (): TestStore => {
    if (!t) throw new Error('useTestStore: the store is opened in beforeAll');
    return t;
  };
  return {
    get store() {
      return opened().store;
    },
    get db() {
      return opened().db;
    },
  };
}
