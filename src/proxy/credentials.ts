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

/**
 * The client request headers that reach an upstream (an allow-list: every
 * other header stays at the gateway, whatever its name): what MCP needs
 * (`Accept` for the JSON / event-stream negotiation, `MCP-Protocol-Version`,
 * `Last-Event-ID` for resuming a stream) and what identifies or traces the
 * client without carrying authority (`User-Agent`, W3C `traceparent` and
 * `tracestate`). Credentials, cookies, `X-Forwarded-*`, method overrides and
 * the client's `Mcp-Session-Id` never pass; the upstream's own credentials come
 * from the server's `headers` and the caller's stored ones.
 */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = ['accept', 'mcp-protocol-version', 'last-event-id', 'user-agent', 'traceparent', 'tracestate'];

/** The allowed client headers present in the request, minus any the client named in `Connection` (hop-by-hop). */
export function forwardableHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const conn = headers['connection'];
  const named = conn ? connectionNamed(conn) : null;
  const out: Record<string, string> = {};
  for (const key of FORWARDED_REQUEST_HEADERS) {
    const v = headers[key];
    if (v === undefined || named?.has(key)) continue;
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

/**
 * Response headers relayed from an upstream to the client (allow-list). The
 * content type is the gateway's own (it re-serializes every body it relays).
 */
export const RELAYED_RESPONSE_HEADERS = ['cache-control', 'mcp-protocol-version', 'retry-after'];
