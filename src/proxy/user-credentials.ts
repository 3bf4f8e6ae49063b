/**
 * Per-user upstream credentials: headers a principal stores for one server
 * (e.g. `Authorization: Bearer <their own GitHub token>`), sealed with
 * AES-256-GCM at rest and added to that principal's upstream requests only.
 *
 * The proxy reads them through `headersFor`, which is served from an
 * in-memory cache per (principal, server) — including "nothing stored" — so a
 * warm hot path never touches the database. Every change publishes
 * `{kind:'credentials'}` on the bus, which drops the entry on every replica.
 */
import { ConfigError, type Config } from '../config/index.js';
import { GatewayError, type FieldError } from '../errors/index.js';
import { type Bus } from '../lib/bus.js';
import { LruCache } from '../lib/lru.js';
import { parseEncryptionKey, SecretBox } from '../lib/secretbox.js';
import { type Store } from '../store/index.js';
import { type UpstreamCredentials } from './credentials.js';
import { HTTP_TOKEN } from '../lib/http-syntax.js';

export interface CredentialLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Limits on what a user may store per server. */
export const CREDENTIAL_LIMITS = { maxHeaders: 16, maxNameLength: 128, maxValueLength: 8192 } as const;

/**
 * Header names a user may not store, case-insensitively: hop-by-hop headers,
 * headers that frame or route the request (the gateway sets them), the MCP
 * transport headers the gateway manages per session, and forwarding headers
 * an upstream might trust for client identity. `Authorization`, `Cookie` and
 * API-key headers are allowed: they are what per-user credentials are for.
 */
export const FORBIDDEN_CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  // hop-by-hop (RFC 9110 §7.6.1) and proxy auth
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  // framing and routing
  'host', 'content-length', 'content-type', 'content-encoding', 'accept', 'accept-encoding', 'expect', 'origin',
  // MCP transport
  'mcp-session-id', 'mcp-protocol-version', 'last-event-id',
  // client identity as seen through proxies
  'forwarded', 'via', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip',
]);
const RESERVED_PREFIXES = ['x-portcullis-'];
/** Visible ASCII, space and tab; no CR/LF/NUL (header injection) and no leading/trailing whitespace. */
const VALUE_RE = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;

/**
 * Check a user's header set for one server. `serverHeaders` are the names the
 * server definition itself sets; a user may not override them (the operator's
 * headers win, so an upstream that trusts them keeps its meaning).
 */
export function checkCredentialHeaders(headers: Record<string, string>, serverHeaders: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  const entries = Object.entries(headers);
  if (entries.length === 0) errors.push({ field: 'headers', message: 'must contain at least one header (use DELETE to remove credentials)' });
  if (entries.length > CREDENTIAL_LIMITS.maxHeaders) errors.push({ field: 'headers', message: `at most ${CREDENTIAL_LIMITS.maxHeaders} headers` });
  const owned = new Set(serverHeaders.map((h) => h.toLowerCase()));
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    const field = `headers.${name}`;
    const lower = name.toLowerCase();
    if (!HTTP_TOKEN.test(name) || name.length > CREDENTIAL_LIMITS.maxNameLength) errors.push({ field, message: 'invalid header name' });
    else if (FORBIDDEN_CREDENTIAL_HEADERS.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p)))
      errors.push({ field, message: 'this header is managed by the gateway and cannot be stored' });
    else if (owned.has(lower)) errors.push({ field, message: 'this header is set by the server definition and cannot be overridden' });
    else if (seen.has(lower)) errors.push({ field, message: 'duplicate header name (names are case-insensitive)' });
    seen.add(lower);
    if (typeof value !== 'string' || !VALUE_RE.test(value) || value.length > CREDENTIAL_LIMITS.maxValueLength)
      errors.push({ field, message: `value must be 1-${CREDENTIAL_LIMITS.maxValueLength} visible ASCII characters (no line breaks, no surrounding spaces)` });
  }
  return errors;
}

/** The AAD binding a sealed record to its row; NUL cannot occur in either part. */
const aadFor = (principalId: string, server: string): string => `user_credentials\0${principalId}\0${server}`;
const cacheKey = (principalId: string, server: string): string => `${principalId}\0${server}`;

type Entry = { headers: Readonly<Record<string, string>> } | null;

export class CredentialService implements UpstreamCredentials {
  /**
   * principal id → server → entry. Two levels, not one map under a `principal\0server` key: a warm
   * request looks up strings the process already holds (the principal's id, the server's name), where
   * a concatenated key is a new string to build and hash on every request (~500 ns against ~15 ns).
   * The bound counts principals; each holds only the servers it has called.
   */
  private readonly cache: LruCache<string, Map<string, Entry>>;
  private readonly pending = new Map<string, Promise<Entry>>();
  /** Bumped on every invalidation; a load that raced one is not cached. */
  private epoch = 0;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly box: SecretBox | null,
    private readonly logger: CredentialLogger,
    cacheSize: number,
  ) {
    this.cache = new LruCache(cacheSize);
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'credentials') {
        this.epoch++;
        this.cache.get(e.principal)?.delete(e.server);
        this.pending.delete(cacheKey(e.principal, e.server));
      } else if (e.kind === 'flush') {
        this.epoch++;
        this.cache.clear();
        this.pending.clear();
      }
    });
  }

  /**
   * Build the service and run the start-up checks: stored credentials with no
   * key configured, or sealed by a different key, refuse the start (the
   * gateway would otherwise forward those users' requests without their
   * credentials, or fail them one by one).
   */
  static async create(config: Config, store: Store, bus: Bus, logger: CredentialLogger, opts: { cacheSize?: number } = {}): Promise<CredentialService> {
    const keyText = config.credentials.encryption_key;
    const key = keyText === undefined ? undefined : parseEncryptionKey(keyText);
    if (keyText !== undefined && !key) throw new ConfigError(['credentials.encryption_key: must be 32 bytes given as 64 hex characters or base64']);
    const box = key ? new SecretBox(key) : null;
    const stored = await store.credentials.count();
    if (stored > 0 && !box)
      throw new ConfigError([
        `credentials.encryption_key: ${stored} encrypted per-user upstream credential(s) are stored but no encryption key is configured; set credentials.encryption_key or PORTCULLIS_ENCRYPTION_KEY to the key they were stored with`,
      ]);
    if (box && stored > 0) {
      const foreign = await store.credentials.countNotPrefixed(box.prefix);
      if (foreign > 0)
        throw new ConfigError([
          `credentials.encryption_key: ${foreign} stored per-user upstream credential(s) were encrypted with a different key (configured key id ${box.keyId}); configure the key they were stored with`,
        ]);
    }
    return new CredentialService(store, bus, box, logger, opts.cacheSize ?? 100_000);
  }

  /** True when a key is configured, i.e. credentials can be stored. */
  get enabled(): boolean {
    return this.box !== null;
  }

  /** Headers to add to this principal's requests to `server`, or undefined. Cached; no DB when warm. */
  async headersFor(principalId: string, server: string): Promise<Record<string, string> | undefined> {
    let entry = this.cache.get(principalId)?.get(server);
    if (entry === undefined) entry = await this.load(principalId, server);
    return entry ? { ...entry.headers } : undefined;
  }

  cachedHeadersFor(principalId: string, server: string): Readonly<Record<string, string>> | null | undefined {
    const entry = this.cache.get(principalId)?.get(server);
    return entry === undefined ? undefined : (entry?.headers ?? null);
  }

  /** Names (never values) of the headers stored for (principal, server); [] when none. */
  async names(principalId: string, server: string): Promise<{ names: string[]; createdAt: string | null; updatedAt: string | null }> {
    const rec = await this.store.credentials.get(principalId, server);
    if (!rec) return { names: [], createdAt: null, updatedAt: null };
    const headers = this.open(principalId, server, rec.ciphertext);
    return { names: Object.keys(headers).sort(), createdAt: rec.createdAt, updatedAt: rec.updatedAt };
  }

  /** Store (replace) the header set; the caller has validated it with checkCredentialHeaders. */
  async put(principalId: string, server: string, headers: Record<string, string>): Promise<{ created: boolean }> {
    if (!this.box)
      throw new GatewayError('encryption_key_missing', {
        detail: 'This gateway has no credentials.encryption_key configured, so per-user upstream credentials cannot be stored',
      });
    const sealed = this.box.seal(JSON.stringify(headers), aadFor(principalId, server));
    const created = await this.store.credentials.put(principalId, server, sealed);
    this.bus.publish({ kind: 'credentials', principal: principalId, server });
    return { created };
  }

  async delete(principalId: string, server: string): Promise<boolean> {
    const removed = await this.store.credentials.delete(principalId, server);
    this.bus.publish({ kind: 'credentials', principal: principalId, server });
    return removed;
  }

  /** Drop every principal's credentials for a server that no longer exists. */
  async deleteForServer(server: string): Promise<number> {
    const principals = await this.store.credentials.deleteForServer(server);
    for (const p of principals) this.bus.publish({ kind: 'credentials', principal: p, server });
    return principals.length;
  }

  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  private load(principalId: string, server: string): Promise<Entry> {
    const key = cacheKey(principalId, server);
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const epoch = this.epoch;
    const p = (async (): Promise<Entry> => {
      const rec = await this.store.credentials.get(principalId, server);
      const entry: Entry = rec ? { headers: Object.freeze(this.open(principalId, server, rec.ciphertext)) } : null;
      if (this.epoch === epoch) {
        const servers = this.cache.get(principalId);
        if (servers) servers.set(server, entry);
        else this.cache.set(principalId, new Map([[server, entry]]));
      }
      return entry;
    })().finally(() => {
      if (this.pending.get(key) === p) this.pending.delete(key);
    });
    this.pending.set(key, p);
    return p;
  }

  private open(principalId: string, server: string, sealed: string): Record<string, string> {
    if (!this.box) throw new GatewayError('internal_error', { internal: new Error('stored upstream credentials found but no encryption key is configured') });
    try {
      const parsed = JSON.parse(this.box.open(sealed, aadFor(principalId, server))) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('sealed credentials are not an object');
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
      return out;
    } catch (e) {
      // Never log the record or the key; the principal and server are enough to find the row.
      this.logger.error({ principal: principalId, server, reason: (e as Error).message }, 'stored upstream credentials could not be decrypted');
      throw new GatewayError('internal_error', { internal: e });
    }
  }
}
