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

export { output } from './output.js';

export function fail(message: string, code = 1): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}

export function describeError(e: unknown): string {
  if (e instanceof ConfigError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** `a,b, c` → ['a','b','c']; '' → []. */
export const commaList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * A list option: comma-separated, repeatable (`--groups a,b --groups c`), `''` for none.
 * Every list option of every command takes this form.
 */
export const listOption = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), ...commaList(value)];

/** Read all of standard input (for --password-stdin), without its final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
