import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type IncomingHttpHeaders } from 'node:http';
import { type Authenticator, type CredentialInput } from '../../auth/authenticate.js';
import { hasScope, type Principal, type Scope } from '../../auth/principal.js';
import { type UsageRecorder } from '../../auth/usage.js';
import { type Role } from '../../config/schema.js';
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
 * X-API-Key, query, client cert) and, where browser sessions are accepted
 * (`sessionCookie` names the cookie), the session cookie and `X-CSRF-Token`.
 */
export function credentialInput(req: FastifyRequest, sessionCookie?: string): CredentialInput {
  const input = credentialInputRaw(req.raw, req.url);
  if (sessionCookie === undefined) return input;
  const csrf = req.headers['x-csrf-token'];
  return {
    ...input,
    sessionCookie: cookieValue(req.headers.cookie, sessionCookie),
    csrfToken: Array.isArray(csrf) ? undefined : csrf,
    httpMethod: req.method,
  };
}

/** The same, from a bare node:http request or a lean one (the /mcp path). */
export function credentialInputRaw(req: { readonly rawHeaders: string[]; readonly headers: IncomingHttpHeaders; readonly socket: object }, url: string): CredentialInput {
  const raw = req.rawHeaders;
  const authorization: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorization.push(raw[i + 1]);
  }
  const apiKey = req.headers['x-api-key'];
  // Only the TLS layer's verdict counts (see http/tls.ts); no header such as
  // X-Client-Cert or X-SSL-Client-DN is ever read.
  const { peerCertificate, peerCertificateRejected } = peerCertificateOf(req.socket);
  return {
    authorization,
    apiKey: Array.isArray(apiKey) ? apiKey.join(',') : apiKey,
    queryCredential: queryHasCredential(url),
    peerCertificate,
    peerCertificateRejected,
    path: url,
  };
}

/** 401 challenge for the management API (the MCP route adds resource metadata). */
export function apiChallenge(err: GatewayError): Record<string, string> {
  if (err.status !== 401) return {};
  const presented = err.code !== 'unauthenticated';
  return { 'WWW-Authenticate': presented ? `Bearer realm="portcullis", error="invalid_token"` : `Bearer realm="portcullis"` };
}

/** @param sessionCookie the browser-session cookie's name: such sessions are accepted too (never on the MCP endpoint). */
export function makeAuthenticate(auth: Authenticator, usage: UsageRecorder, sessionCookie?: string) {
  return async function authenticate(req: FastifyRequest): Promise<void> {
    try {
      req.principal = await auth.authenticate(credentialInput(req, sessionCookie));
    } catch (e) {
      if (e instanceof GatewayError && e.status === 401) {
        throw new GatewayError(e.code, { detail: e.detail, internal: e.internal, headers: { ...apiChallenge(e), ...e.headers } });
      }
      throw e;
    }
    if (req.principal.method === 'api_token' && req.principal.tokenId) usage.record(req.principal.tokenId, null);
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new GatewayError('unauthenticated');
  return req.principal;
}

/** Role check. Admin passes everything; operator ⊇ viewer. */
export function roleAllows(role: Role, needed: Role): boolean {
  const rank: Record<Role, number> = { user: 0, viewer: 1, operator: 2, admin: 3 };
  if (needed === 'user') return true;
  return rank[role] >= rank[needed];
}

/**
 * Guard for management endpoints: the principal's role must reach `role`, and
 * a scoped credential must carry `scope` (and `admin` for admin-only actions).
 */
export function requireAccess(role: Role, scope: Scope) {
  return async function guard(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const p = principalOf(req);
    if (!roleAllows(p.role, role)) throw new GatewayError('forbidden', { detail: `This operation needs the ${role} role` });
    checkScope(p, scope);
    if (role === 'admin') checkScope(p, 'admin');
  };
}

export function checkScope(p: Principal, scope: Scope): void {
  if (!hasScope(p, scope))
    throw new GatewayError('insufficient_scope', {
      detail: `The token lacks the ${scope} scope`,
      headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"` },
    });
}
