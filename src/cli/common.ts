import { type Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { openStore, type Store } from '../store/index.js';

/** Load the config named by --config (global) or PORTCULLIS_CONFIG. */
export function configFrom(cmd: Command): Config {
  const opts = cmd.optsWithGlobals() as { config?: string };
  return loadConfig({ file: opts.config });
}

/** Run `fn` with the configured store open; closes it afterwards. */
export async function withStore<T>(cmd: Command, fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = configFrom(cmd);
  const store = await openStore(config.storage.url, { poolSize: 2 });
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

export function describeError(e: unknown): string {
  if (e instanceof ConfigError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
