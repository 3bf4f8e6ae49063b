/**
 * Audience binding of the authorization server's access tokens (SPEC §10,
 * RFC 8707): a token whose `aud` is `<public_url>/mcp/{server}` is accepted
 * only on that endpoint, one for `<public_url>/mcp` only on the aggregated
 * endpoint, and neither at /api/v1 or anywhere else. One function decides it
 * for every path the Authenticator serves.
 */
import { SERVER_NAME_RE } from '../config/schema.js';
import { invalidToken } from './errors.js';
import { type Principal } from './principal.js';

/** `<public_url>/mcp/{server}`, or `<public_url>/mcp` for the aggregated endpoint (server null). */
export function mcpResource(publicUrl: string, server: string | null): string {
  return server === null ? `${publicUrl}/mcp` : `${publicUrl}/mcp/${server}`;
}

/**
 * The MCP endpoint a request-target names: `/mcp/{server}` → server, `/mcp` →
 * null (aggregated); undefined for any other path. Strict: one spelling only
 * (no trailing slash, dot segments, percent-encoding or case variants), so
 * that no other spelling of a path can stand for an endpoint.
 */
export function mcpEndpointOfPath(url: string): string | null | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/mcp') return null;
  if (!path.startsWith('/mcp/')) return undefined;
  const server = path.slice(5);
  return SERVER_NAME_RE.test(server) ? server : undefined;
}

/**
 * What a `resource` parameter names: `{server}` for `<public_url>/mcp/{server}`,
 * null for `<public_url>/mcp`, undefined for anything else. Exact string match
 * against the public URL (no normalization).
 */
export function parseMcpResource(publicUrl: string, resource: string): string | null | undefined {
  const base = `${publicUrl}/mcp`;
  if (resource === base) return null;
  if (!resource.startsWith(base + '/')) return undefined;
  const server = resource.slice(base.length + 1);
  return SERVER_NAME_RE.test(server) ? server : undefined;
}

/**
 * Refuse (401 invalid_token) a resource-bound principal on a request for
 * another resource; principals without a bound resource pass. `path` is the
 * request-target the credential was presented on (undefined: not known, so a
 * bound token is refused).
 */
export function checkResourceBinding(p: Principal, publicUrl: string, path: string | undefined): void {
  if (!p.resource) return;
  const endpoint = path === undefined ? undefined : mcpEndpointOfPath(path);
  if (endpoint === undefined || mcpResource(publicUrl, endpoint) !== p.resource) throw invalidToken('The access token was issued for another resource');
}
