/**
 * Every `WWW-Authenticate` challenge the gateway sends (RFC 6750 §3,
 * RFC 9728 §5.1), built in one place. Pure functions: values in, the header
 * value out.
 *
 *   - the management API's 401: `Bearer realm="portcullis"`;
 *   - an MCP endpoint's 401: `Bearer resource_metadata="…"`, naming the
 *     endpoint's protected-resource metadata so a client can discover the
 *     authorization server;
 *   - a token that lacks a scope (403): `Bearer error="insufficient_scope"`;
 *   - the OAuth token endpoint's 401 for a client that failed to
 *     authenticate: `Basic realm="portcullis"` (RFC 6749 §5.2).
 *
 * A 401 caused by a token that was presented and refused adds
 * `error="invalid_token"`; a request that presented nothing gets the bare
 * challenge (RFC 6750 §3.1).
 */

/** The code of a 401 for a request that presented no credential at all. */
const NOTHING_PRESENTED = 'unauthenticated';

const quoted = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;

/** The management API's challenge for a 401 with the given error code. */
export function apiChallenge(code: string): string {
  return code === NOTHING_PRESENTED ? 'Bearer realm="portcullis"' : 'Bearer realm="portcullis", error="invalid_token"';
}

/** An MCP endpoint's challenge for a 401 with the given error code. */
export function mcpChallenge(resourceMetadataUrl: string, code: string): string {
  const rm = `resource_metadata=${quoted(resourceMetadataUrl)}`;
  return code === NOTHING_PRESENTED ? `Bearer ${rm}` : `Bearer ${rm}, error="invalid_token"`;
}

/** The challenge for a credential that lacks `scope`; on an MCP endpoint it names the endpoint's metadata too. */
export function insufficientScopeChallenge(scope: string, resourceMetadataUrl?: string): string {
  const base = `Bearer error="insufficient_scope", scope=${quoted(scope)}`;
  return resourceMetadataUrl === undefined ? base : `${base}, resource_metadata=${quoted(resourceMetadataUrl)}`;
}

/** The OAuth token endpoint's challenge to a client that failed to authenticate (client_secret_basic). */
export function clientBasicChallenge(): string {
  return 'Basic realm="portcullis", charset="UTF-8"';
}
