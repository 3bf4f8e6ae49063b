/**
 * Redirect URI rules for OAuth clients of the gateway's authorization server
 * (SPEC §10): `https`, `http` on a loopback host (RFC 8252 §7.3), or a
 * private-use scheme (`cursor://...`, `vscode://...`, RFC 8252 §7.1); never a
 * fragment or user info. Pure functions: the config loader, dynamic
 * registration and Client ID Metadata Documents all use these.
 */

/** Hosts that are the user's own machine, as `URL.hostname` spells them. */
export const LOOPBACK_REDIRECT_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Schemes a browser must never be sent to as an OAuth redirect. */
const FORBIDDEN_SCHEMES: ReadonlySet<string> = new Set([
  'javascript:', 'vbscript:', 'data:', 'blob:', 'file:', 'about:', 'filesystem:', 'ws:', 'wss:', 'ftp:', 'mailto:', 'tel:', 'view-source:',
]);

export const MAX_REDIRECT_URI_LENGTH = 2000;

export type RedirectUriKind = 'https' | 'loopback' | 'private_scheme';

function parse(uri: string): URL | null {
  try {
    return new URL(uri);
  } catch {
    return null;
  }
}

/** Why `uri` is not an acceptable redirect URI; null when it is. */
export function redirectUriProblem(uri: unknown): string | null {
  if (typeof uri !== 'string' || uri.length === 0) return 'must be a non-empty string';
  if (uri.length > MAX_REDIRECT_URI_LENGTH) return `must be at most ${MAX_REDIRECT_URI_LENGTH} characters`;
  if (/[\s\u0000-\u001f\u007f\\]/.test(uri)) return 'must not contain spaces, control characters or backslashes';
  if (uri.includes('#')) return 'must not contain a fragment';
  const u = parse(uri);
  if (!u) return 'must be an absolute URI';
  if (u.username || u.password) return 'must not contain user information';
  if (u.protocol === 'https:') return u.hostname ? null : 'must name a host';
  if (u.protocol === 'http:') return LOOPBACK_REDIRECT_HOSTS.has(u.hostname) ? null : 'http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https';
  if (FORBIDDEN_SCHEMES.has(u.protocol)) return `must not use the ${u.protocol.slice(0, -1)} scheme`;
  return null; // a private-use scheme (RFC 8252 §7.1)
}

/** The kind of an acceptable redirect URI (call redirectUriProblem first). */
export function redirectUriKind(uri: string): RedirectUriKind {
  const u = new URL(uri);
  if (u.protocol === 'https:') return 'https';
  if (u.protocol === 'http:') return 'loopback';
  return 'private_scheme';
}

/**
 * OAuth `application_type` implied by the redirect URIs: `native` when any of
 * them is a loopback `http` or private-use scheme URI (the authorization
 * server then accepts any port on a loopback redirect, RFC 8252 §7.3), else
 * `web` (exact match only).
 */
export function applicationTypeFor(uris: readonly string[]): 'web' | 'native' {
  return uris.some((u) => redirectUriProblem(u) === null && redirectUriKind(u) !== 'https') ? 'native' : 'web';
}
