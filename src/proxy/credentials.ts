/**
 * Upstream credentials. The client's own credentials never reach an upstream;
 * what does is the server's configured `headers` (with `${ENV}` already
 * interpolated by the config loader) and then, per user, the headers returned
 * by the UpstreamCredentials hook (stored secrets, encrypted at rest; the
 * implementation caches them so no database round trip happens per message).
 */
export interface UpstreamCredentials {
  /** Extra headers for this principal on this server, or undefined for none. */
  headersFor(principalId: string, server: string): Promise<Record<string, string> | undefined>;
  /**
   * What `headersFor` would answer when it is already in memory (the hot path's
   * synchronous read): the headers (not to be modified), null for none, or
   * undefined when not known yet (call `headersFor`).
   */
  cachedHeadersFor(principalId: string, server: string): Readonly<Record<string, string>> | null | undefined;
}

/** Request headers that never travel from the client to an upstream. */
export const NEVER_FORWARDED = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'cookie',
  // hop-by-hop (RFC 9110 §7.6.1) and framing
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  // the gateway must read what it filters: upstream bodies are requested unencoded
  'accept-encoding',
  // the gateway validated these; the upstream sees the gateway as its client
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  // the gateway's own session id is translated, never passed as is
  'mcp-session-id',
]);

/**
 * Client headers that may be forwarded: everything except credentials,
 * hop-by-hop headers and those named in `Connection`.
 */
export function forwardableHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const conn = headers['connection'];
  const named = conn ? connectionNamed(conn) : null;
  const out: Record<string, string> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    const key = k.toLowerCase();
    if (NEVER_FORWARDED.has(key) || named?.has(key)) continue;
    out[key] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/**
 * Header names listed in `Connection` (hop-by-hop for this hop); null for the
 * usual `keep-alive` or `close`, which name no header (nothing to build per request).
 */
function connectionNamed(conn: string | string[]): Set<string> | null {
  if (typeof conn === 'string' && conn.length <= 10) {
    const c = conn.toLowerCase();
    if (c === 'keep-alive' || c === 'close') return null;
  }
  const named = new Set<string>();
  for (const v of Array.isArray(conn) ? conn : [conn]) for (const t of v.split(',')) named.add(t.trim().toLowerCase());
  return named;
}

/** Response headers relayed from an upstream to the client (allow-list). */
export const RELAYED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'mcp-protocol-version', 'retry-after', 'content-encoding'];
