/**
 * Token files for the remote CLI. A file holds either the bare token (an
 * API token `pcl_...` or an access token) or JSON:
 *
 *   {"access_token": "...", "refresh_token": "...", "url": "https://gw...", "expires_at": "...", "email": "..."}
 *
 * Only `access_token` is required (the seed's `{"tokens": {"access_token":
 * ...}}` is read too). `portcullis login` writes this JSON with mode 0600;
 * with a `refresh_token` the CLI renews an expired access token and rewrites
 * the file. Tokens are never printed, not even in errors.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { usageError } from '../exit.js';

export interface TokenFileContent {
  access_token: string;
  refresh_token?: string;
  /** The gateway the token belongs to. */
  url?: string;
  expires_at?: string;
  email?: string;
}

/** Printable, no whitespace: a value that can go in an Authorization header. */
const TOKEN_RE = /^[\x21-\x7e]{8,8192}$/;

export function parseTokenFile(text: string, path: string): TokenFileContent {
  const t = text.trim();
  if (!t.startsWith('{')) {
    if (!TOKEN_RE.test(t)) throw usageError(`${path} does not hold a token (a bare token, or JSON with access_token)`);
    return { access_token: t };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(t);
  } catch {
    throw usageError(`${path} is not valid JSON (a token file holds a bare token or {"access_token": "..."})`);
  }
  const o = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const nested = o.tokens && typeof o.tokens === 'object' ? (o.tokens as Record<string, unknown>) : {};
  const access = o.access_token ?? nested.access_token;
  if (typeof access !== 'string' || !TOKEN_RE.test(access)) throw usageError(`${path} has no access_token`);
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const refresh = str(o.refresh_token ?? nested.refresh_token);
  return {
    access_token: access,
    ...(refresh && TOKEN_RE.test(refresh) ? { refresh_token: refresh } : {}),
    ...(str(o.url) ? { url: str(o.url) } : {}),
    ...(str(o.expires_at) ? { expires_at: str(o.expires_at) } : {}),
    ...(str(o.email) ? { email: str(o.email) } : {}),
  };
}

export function readTokenFile(path: string): TokenFileContent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError(`cannot read the token file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseTokenFile(text, path);
}

/** Write atomically with mode 0600 (its folder 0700 when created). */
export function writeTokenFile(path: string, content: TokenFileContent): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600); // whatever the umask
  renameSync(tmp, path);
}

/** Where a token comes from; a file with a refresh token can be renewed. */
export interface TokenSource {
  token(): string;
  /** The refresh token, when the token can be renewed. */
  refreshToken(): string | undefined;
  /** Keep a renewed pair (rewrites the file). */
  renewed(pair: { token: string; refresh_token: string; expires_at: string }): void;
}

export const staticToken = (token: string): TokenSource => ({
  token: () => token,
  refreshToken: () => undefined,
  renewed: () => undefined,
});

export function fileToken(path: string, content: TokenFileContent): TokenSource {
  let cur = content;
  return {
    token: () => cur.access_token,
    refreshToken: () => cur.refresh_token,
    renewed(pair) {
      cur = { ...cur, access_token: pair.token, refresh_token: pair.refresh_token, expires_at: pair.expires_at };
      writeTokenFile(path, cur);
    },
  };
}
