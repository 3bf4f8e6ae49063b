/**
 * Client ID Metadata Documents (SPEC §10; draft-ietf-oauth-client-id-metadata-document):
 * a `client_id` that is an https URL with a path names a JSON document at
 * that URL describing the client. The gateway fetches it under these rules:
 *
 * - https only (plus http://127.0.0.1|localhost|[::1] with `allow_loopback_http`);
 * - the host must be in `allowed_hosts` when that list is set;
 * - private, loopback and link-local addresses are refused, checked on the
 *   resolved address that is connected to (safe-fetch.ts);
 * - no redirects; at most 5 KiB; at most 5 s;
 * - the document's `client_id` must equal the URL, `redirect_uris` is
 *   required (and follows the redirect URI rules), no client secret;
 * - cached per Cache-Control, at most 24 h (5 min when the answer says nothing);
 *   a refused document is not fetched again for 10 s.
 *
 * Such clients are public: they authenticate with PKCE only (`none`).
 *
 * Why not oidc-provider's own `clientIdMetadataDocument` feature: it accepts
 * https only (no loopback development mode, needed for tests and local
 * clients), has a fixed 2.5 s timeout, and checks addresses after connecting
 * through a process-wide dispatcher. docs/oauth.md says the same.
 */
import { type Logger } from '../lib/logger.js';
import { LruCache } from '../lib/lru.js';
import { now } from '../lib/time.js';
import { applicationTypeFor, redirectUriProblem } from '../lib/redirect-uri.js';
import { FetchLimitError, GuardedFetcher, UnsafeAddressError } from './safe-fetch.js';

export const CIMD_MAX_BYTES = 5 * 1024;
export const CIMD_TIMEOUT_MS = 5_000;
export const CIMD_MAX_CACHE_MS = 24 * 3_600_000;
const DEFAULT_CACHE_MS = 5 * 60_000;
/** A refused document is not fetched again this soon (one request looks the client up more than once). */
const REFUSAL_CACHE_MS = 10_000;

export interface CimdOptions {
  allowedHosts: readonly string[];
  allowLoopbackHttp: boolean;
}

/** Why a document was refused; `message` is safe to show (no secrets, no internals). */
export class CimdError extends Error {
  constructor(
    readonly reason: 'invalid_url' | 'host_not_allowed' | 'unsafe_address' | 'fetch_failed' | 'too_large' | 'timeout' | 'redirect' | 'bad_status' | 'invalid_document',
    message: string,
  ) {
    super(message);
    this.name = 'CimdError';
  }
}

/** Client metadata the engine registers the client with (a whitelist of the document's fields). */
export type DocumentClient = Record<string, unknown> & { client_id: string; redirect_uris: string[] };

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;

export class ClientMetadataDocuments {
  private readonly cache = new LruCache<string, { client: DocumentClient; until: number }>(1_000);
  private readonly refused = new LruCache<string, { error: CimdError; until: number }>(1_000);
  private readonly inflight = new Map<string, Promise<DocumentClient>>();
  private readonly publicFetcher = new GuardedFetcher('public', { timeoutMs: CIMD_TIMEOUT_MS, maxBytes: CIMD_MAX_BYTES });
  private readonly loopbackFetcher: GuardedFetcher | null;

  constructor(
    private readonly opts: CimdOptions,
    private readonly logger: Logger,
    /** Told about every fetch (metrics). */
    private readonly onFetch: (outcome: 'ok' | CimdError['reason']) => void = () => {},
  ) {
    this.loopbackFetcher = opts.allowLoopbackHttp ? new GuardedFetcher('loopback', { timeoutMs: CIMD_TIMEOUT_MS, maxBytes: CIMD_MAX_BYTES }) : null;
  }

  /** Whether a client_id has the shape of a metadata-document URL (then resolve() decides). */
  static looksLikeUrl(clientId: string): boolean {
    return clientId.startsWith('https://') || clientId.startsWith('http://');
  }

  /** The client a document URL describes; throws CimdError. */
  async resolve(clientId: string): Promise<DocumentClient> {
    const url = this.checkUrl(clientId);
    const hit = this.cache.get(clientId);
    if (hit && hit.until > now()) return hit.client;
    const no = this.refused.get(clientId);
    if (no && no.until > now()) throw no.error;
    let pending = this.inflight.get(clientId);
    if (!pending) {
      pending = this.fetchAndCheck(clientId, url).finally(() => this.inflight.delete(clientId));
      this.inflight.set(clientId, pending);
    }
    return pending;
  }

  private checkUrl(clientId: string): URL {
    let u: URL;
    try {
      u = new URL(clientId);
    } catch {
      throw new CimdError('invalid_url', 'The client_id is not a valid URL');
    }
    const loopbackHttp = u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);
    if (u.protocol !== 'https:' && !(loopbackHttp && this.loopbackFetcher)) throw new CimdError('invalid_url', 'A client_id URL must use https');
    if (u.href !== clientId) throw new CimdError('invalid_url', 'The client_id URL is not in normalized form');
    if (u.username || u.password || u.hash || clientId.includes('#')) throw new CimdError('invalid_url', 'A client_id URL must not contain user information or a fragment');
    if (u.pathname === '/' || DOT_SEGMENT.test(u.pathname)) throw new CimdError('invalid_url', 'A client_id URL must have a path without dot segments');
    if (!loopbackHttp && this.opts.allowedHosts.length && !this.opts.allowedHosts.some((h) => hostMatches(h, u.hostname)))
      throw new CimdError('host_not_allowed', `Client metadata documents from ${u.hostname} are not accepted here`);
    return u;
  }

  private async fetchAndCheck(clientId: string, url: URL): Promise<DocumentClient> {
    try {
      const fetcher = url.protocol === 'https:' ? this.publicFetcher : this.loopbackFetcher!;
      let res;
      try {
        res = await fetcher.get(url);
      } catch (e) {
        if (e instanceof UnsafeAddressError || (e as { cause?: unknown })?.cause instanceof UnsafeAddressError)
          throw new CimdError('unsafe_address', `The client's metadata document host ${url.hostname} resolves to an address that is not public`);
        if (e instanceof FetchLimitError) throw new CimdError(e.reason, `The client's metadata document could not be used: ${e.message}`);
        this.logger.info({ client_id: clientId, err: { message: (e as Error).message } }, 'client metadata document fetch failed');
        throw new CimdError('fetch_failed', "The client's metadata document could not be fetched");
      }
      if (res.status >= 300 && res.status < 400) throw new CimdError('redirect', "The client's metadata document URL answered with a redirect; redirects are not followed");
      if (res.status !== 200) throw new CimdError('bad_status', `The client's metadata document URL answered ${res.status}`);
      const client = checkDocument(clientId, res.body);
      const ttl = cacheMs(res.headers['cache-control']);
      if (ttl > 0) this.cache.set(clientId, { client, until: now() + ttl });
      this.onFetch('ok');
      return client;
    } catch (e) {
      if (e instanceof CimdError) {
        this.onFetch(e.reason);
        this.refused.set(clientId, { error: e, until: now() + REFUSAL_CACHE_MS });
      }
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.publicFetcher.close();
    await this.loopbackFetcher?.close();
  }
}

/** `example.com` matches itself; `*.example.com` matches its subdomains (not itself). */
export function hostMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase();
  if (pattern.startsWith('*.')) return h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1;
  return h === pattern;
}

/** Cache lifetime from Cache-Control: no-store/no-cache → 0; max-age → at most 24 h; absent → 5 min. */
export function cacheMs(header: string | string[] | undefined): number {
  const v = (Array.isArray(header) ? header.join(',') : (header ?? '')).toLowerCase();
  if (/(^|,)\s*(no-store|no-cache)\b/.test(v)) return 0;
  const m = /(^|,)\s*max-age\s*=\s*"?(\d+)"?/.exec(v);
  if (m) return Math.min(Number(m[2]) * 1000, CIMD_MAX_CACHE_MS);
  return DEFAULT_CACHE_MS;
}

const invalid = (why: string) => new CimdError('invalid_document', `The client's metadata document is not acceptable: ${why}`);

/** Parse and check a document; returns the whitelisted client metadata. */
export function checkDocument(clientId: string, body: Buffer): DocumentClient {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('it is not JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('it is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) throw invalid('its client_id is not its URL');
  if ('client_secret' in d || 'client_secret_expires_at' in d) throw invalid('it must not contain a client secret');
  if (d.token_endpoint_auth_method !== undefined && d.token_endpoint_auth_method !== 'none') throw invalid('its token_endpoint_auth_method must be none (a public client)');
  const uris = d.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || uris.length > 50) throw invalid('redirect_uris must list 1 to 50 URIs');
  for (const u of uris) {
    const problem = redirectUriProblem(u);
    if (problem) throw invalid(`redirect URI ${typeof u === 'string' ? u.slice(0, 200) : '?'} ${problem}`);
  }
  const grantTypes = d.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!Array.isArray(grantTypes) || grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token'))
    throw invalid('grant_types may only contain authorization_code and refresh_token');
  if (d.response_types !== undefined && (!Array.isArray(d.response_types) || d.response_types.some((r) => r !== 'code'))) throw invalid('response_types may only contain code');
  const out: DocumentClient = {
    client_id: clientId,
    redirect_uris: uris as string[],
    grant_types: grantTypes.includes('authorization_code') ? grantTypes : ['authorization_code', ...grantTypes],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: applicationTypeFor(uris as string[]),
  };
  if (typeof d.client_name === 'string' && d.client_name.trim()) out.client_name = d.client_name.trim().slice(0, 200);
  if (typeof d.client_uri === 'string' && d.client_uri.startsWith('https://')) out.client_uri = d.client_uri.slice(0, 2000);
  return out;
}
