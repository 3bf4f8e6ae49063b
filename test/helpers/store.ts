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
