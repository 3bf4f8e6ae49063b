/**
 * Which AdminClient a command uses, chosen once for every command:
 *
 * - remote when `--url` is given, or PORTCULLIS_URL (unless `--config` is
 *   given), or a `--token-file` that names its gateway (`url` in the JSON);
 * - local (the store of `--config` / PORTCULLIS_CONFIG) otherwise.
 *
 * The remote token comes from `--token-file`, else PORTCULLIS_TOKEN, else the
 * file `portcullis login` wrote when it belongs to the same URL. A token is
 * never sent to a gateway other than the one its file names.
 */
import { existsSync } from 'node:fs';
import { type Command } from 'commander';
import { cliEnvironment } from '../config/cli-env.js';
import { type AdminClient } from './client/admin-client.js';
import { openRemoteClient } from './client/remote.js';
import { fileToken, readTokenFile, staticToken, type TokenSource } from './client/token-file.js';
import { reportError, usageError } from './exit.js';
import { notice } from './output.js';

interface GlobalOptions {
  config?: string;
  url?: string;
  tokenFile?: string;
}

/** `https://gw.example.com/` → `https://gw.example.com`; exit 2 for anything that is not an http(s) URL. */
export function normalizeUrl(raw: string, from: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usageError(`${from}: must be an http(s) URL such as https://gw.example.com`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`${from}: must be an http(s) URL such as https://gw.example.com`);
  if (u.search || u.hash || u.username || u.password) throw usageError(`${from}: give the gateway's base URL only (no query, fragment or credentials)`);
  return u.toString().replace(/\/+$/, '');
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** Credentials over plain http to another machine can be read on the way: say so (the command still runs). */
export function warnIfCleartext(url: string): void {
  const u = new URL(url);
  if (u.protocol === 'http:' && !LOOPBACK.test(u.hostname)) notice(`${url} is plain http: your token and password cross the network unencrypted; use https`);
}

export type Target = { mode: 'local' } | { mode: 'remote'; url: string; source: TokenSource | null };

export function resolveTarget(cmd: Command): Target {
  const o = cmd.optsWithGlobals() as GlobalOptions;
  const env = cliEnvironment();
  if (o.url !== undefined && o.config !== undefined) throw usageError('give either --url (a running gateway) or --config (the local store), not both');
  const file = o.tokenFile !== undefined ? { path: o.tokenFile, content: readTokenFile(o.tokenFile) } : undefined;
  const rawUrl = o.url ?? (o.config === undefined ? env.url : undefined) ?? file?.content.url;
  if (rawUrl === undefined) {
    if (file) throw usageError(`--token-file ${file.path} does not name its gateway: give --url as well`);
    return { mode: 'local' };
  }
  const url = normalizeUrl(rawUrl, o.url !== undefined ? '--url' : o.config === undefined && env.url ? 'PORTCULLIS_URL' : `url in ${file!.path}`);
  if (file) {
    if (file.content.url && normalizeUrl(file.content.url, `url in ${file.path}`) !== url)
      throw usageError(`the token in ${file.path} belongs to ${file.content.url}, not ${url}; it is not sent elsewhere`);
    return { mode: 'remote', url, source: fileToken(file.path, file.content) };
  }
  if (env.token) return { mode: 'remote', url, source: staticToken(env.token) };
  if (existsSync(env.defaultTokenFile)) {
    const content = readTokenFile(env.defaultTokenFile);
    if (content.url && normalizeUrl(content.url, `url in ${env.defaultTokenFile}`) === url) return { mode: 'remote', url, source: fileToken(env.defaultTokenFile, content) };
  }
  return { mode: 'remote', url, source: null };
}

export async function openClient(cmd: Command): Promise<AdminClient> {
  const t = resolveTarget(cmd);
  if (t.mode === 'remote') {
    warnIfCleartext(t.url);
    return openRemoteClient(t.url, t.source);
  }
  // Loaded on demand: the remote CLI should not pay for the store and the services.
  const [{ openLocalClient }, { configFrom }] = await Promise.all([import('./client/local.js'), import('./common.js')]);
  return openLocalClient(configFrom(cmd));
}

/**
 * Run `fn` with the command's client; report errors (exit codes in exit.ts).
 * With `changes`, say so when the change may not reach a running gateway at once.
 */
export async function withClient(cmd: Command, fn: (client: AdminClient) => Promise<void>, opts: { changes?: boolean } = {}): Promise<void> {
  let client: AdminClient | undefined;
  try {
    client = await openClient(cmd);
    await fn(client);
    if (opts.changes) {
      const n = await client.afterChange();
      if (n) notice(n);
    }
  } catch (e) {
    await client?.close().catch(() => undefined);
    reportError(cmd, e);
  }
  await client.close();
}
