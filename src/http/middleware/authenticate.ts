import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type Authenticator, type CredentialInput } from '../../auth/authenticate.js';
import { apiChallenge, insufficientScopeChallenge } from '../../auth/challenge.js';
import { scopesFor } from '../../auth/permissions.js';
import { hasScope, type Principal, type Scope } from '../../auth/principal.js';
import { type RoleCatalog } from '../../auth/roles.js';
import { type UsageRecorder } from '../../auth/usage.js';
import { type Permission } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';
import { peerCertificateOf } from '../tls.js';
import { cookieValue } from '../cookies.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Query parameters that look like credentials; their presence alone is refused. */
const QUERY_CREDENTIALS = new Set(['access_token', 'token', 'api_key', 'apikey', 'api-key', 'x-api-key', 'authorization', 'auth', 'bearer', 'refresh_token', 'id_token']);

export function queryHasCredential(url: string): boolean {
  const q = url.indexOf('?');
  if (q === -1) return false;
  for (const key of new URLSearchParams(url.slice(q + 1)).keys()) if (QUERY_CREDENTIALS.has(key.toLowerCase())) return true;
  return false;
}

/**
 * Gather raw credential material from a request (all Authorization values,
 * X-API-Key, query, client cert, the normalized path a resource-bound token
 * is checked against) and, where browser sessions are accepted
 * (`sessionCookie` names the cookie), the session cookie and `X-CSRF-Token`.
 */
export function credentialInput(req: FastifyRequest, sessionCookie?: string): CredentialInput {
  const raw = req.raw.rawHeaders;
  const authorization: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorization.push(raw[i + 1]);
  }
  const apiKey = req.headers['x-api-key'];
  // Only the TLS layer's verdict counts (see http/tls.ts); no header such as
  // X-Client-Cert or X-SSL-Client-DN is ever read.
  const { peerCertificate, peerCertificateRejected } = peerCertificateOf(req.raw.socket);
  const input: CredentialInput = {
    authorization,
    apiKey: Array.isArray(apiKey) ? apiKey.join(',') : apiKey,
    queryCredential: queryHasCredential(req.url),
    peerCertificate,
    peerCertificateRejected,
    path: req.url,
  };
  if (sessionCookie === undefined) return input;
  const csrf = req.headers['x-csrf-token'];
  return {
    ...input,
    sessionCookie: cookieValue(req.headers.cookie, sessionCookie),
    csrfToken: Array.isArray(csrf) ? undefined : csrf,
    httpMethod: req.method,
  };
}

/** A 401 from the authenticator, with the challenge `challenge` builds for its code; other errors unchanged. */
export function withChallenge(e: unknown, challenge: (code: string) => string): unknown {
  if (!(e instanceof GatewayError) || e.status !== 401) return e;
  return new GatewayError(e.code, { detail: e.detail, internal: e.internal, headers: { ...e.headers, 'WWW-Authenticate': challenge(e.code) } });
}

/** @param sessionCookie the browser-session cookie's name: such sessions are accepted too (never on the MCP endpoint). */
export function makeAuthenticate(auth: Authenticator, usage: UsageRecorder, sessionCookie?: string) {
  return async function authenticate(req: FastifyRequest): Promise<void> {
    try {
      req.principal = await auth.authenticate(credentialInput(req, sessionCookie));
    } catch (e) {
      throw withChallenge(e, apiChallenge);
    }
    if (req.principal.method === 'api_token' && req.principal.tokenId) usage.record(req.principal.tokenId, null);
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new GatewayError('unauthenticated');
  return req.principal;
}

/**
 * Guard for a management operation: the principal's role must hold
 * `permission` (roles are permission sets; see auth/permissions.ts), and a
 * scoped credential must carry the scopes the operation needs (`api:read`
 * for reads, `api:write` for writes, plus `admin` for admin-level
 * permissions). Role changes apply at once: the catalog is reloaded on the
 * `roles` bus event and this waits for a reload in flight.
 */
export function requirePermission(roles: RoleCatalog, permission: Permission, write: boolean) {
  const scopes = scopesFor(permission, write);
  return async function guard(req: FastifyRequest, _reply?: FastifyReply): Promise<void> {
    const p = principalOf(req);
    const held = roles.permissionsNow(p.role) ?? (await roles.permissions(p.role));
    if (!held.has(permission)) throw new GatewayError('forbidden', { detail: `This operation needs the ${permission} permission` });
    for (const sc of scopes) checkScope(p, sc);
  };
}

/** Guard for "any authenticated principal, acting on its own resources": only the scope, if any. */
export function requireScope(scope: Scope | null) {
  return async function guard(req: FastifyRequest, _reply?: FastifyReply): Promise<void> {
    const p = principalOf(req);
    if (scope) checkScope(p, scope);
  };
}

export function checkScope(p: Principal, scope: Scope): void {
  if (!hasScope(p, scope))
    throw new GatewayError('insufficient_scope', {
      detail: `The token lacks the ${scope} scope`,
      headers: { 'WWW-Authenticate': insufficientScopeChallenge(scope) },
    });
}
