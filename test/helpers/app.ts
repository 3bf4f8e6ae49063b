import { Writable } from 'node:stream';
import { buildApp, type App, type AppDeps } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createDatabase, type Backend, type TestDb } from './db.js';

/** Build a frozen Config from a plain object, with no process env involved. */
export function testConfig(object: Record<string, unknown> = {}, env: Record<string, string> = {}): Config {
  return loadConfig({ object: { logging: { level: 'silent' }, ...object }, env });
}

export interface TestApp {
  app: App;
  store: Store;
  config: Config;
  db: TestDb;
  /** Every log line the app wrote (for secret-leak assertions). */
  logs: string[];
  inject: App['http']['inject'];
  close(): Promise<void>;
}

/**
 * An in-process gateway on a fresh database of the given backend, or on the
 * database of another test app (`db`: a second replica sharing the store;
 * the app that created it drops it).
 */
export async function startTestApp(
  opts: { backend?: Backend; config?: Record<string, unknown>; env?: Record<string, string>; deps?: Partial<AppDeps>; logLevel?: string; db?: TestDb } = {},
): Promise<TestApp> {
  const db = opts.db ?? (await createDatabase(opts.backend ?? 'sqlite'));
  const config = testConfig({ ...opts.config, storage: { url: db.url } }, opts.env);
  const store = await openStore(config.storage.url);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger(opts.logLevel ?? 'debug', sink);
  const app = await buildApp({ config, store, logger, ...opts.deps });
  return {
    app,
    store,
    config,
    db,
    logs,
    inject: app.http.inject.bind(app.http),
    async close() {
      await app.close();
      await store.close();
      if (!opts.db) await db.drop();
    },
  };
}

/** Register a user through the API; the first one becomes admin. */
export async function register(t: TestApp, email: string, password = 'correct horse battery') {
  const r = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, password } });
  if (r.statusCode !== 201) throw new Error(`register failed: ${r.statusCode} ${r.body}`);
  return r.json() as { user: { id: string; role: string; email: string }; token: string; refresh_token: string; expires_at: string };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
