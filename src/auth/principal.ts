import { type Role } from '../config/schema.js';
import { externalPrincipalId } from '../lib/principal-id.js';

export const SCOPES = ['mcp:read', 'mcp:execute', 'api:read', 'api:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** How the caller proved who it is. */
export type AuthMethod = 'session' | 'api_token' | 'client_credentials' | 'jwt' | 'introspection' | 'static' | 'mtls' | 'oauth' | 'browser_session';

export interface Principal {
  type: 'user' | 'service_account' | 'external';
  /** Stable id, one namespace per type (lib/principal-id.ts): user UUID, `sa:<client_id>`, `<provider>:<subject>`. */
  id: string;
  email: string | null;
  username: string | null;
  role: Role;
  groups: readonly string[];
  method: AuthMethod;
  /** External provider name, when method is jwt/introspection/static/mtls. */
  provider: string | null;
  /** API token id, or the access token's jti. */
  tokenId: string | null;
  /** Refresh family of a login session (access tokens only). */
  sessionFamily: string | null;
  /** Explicit scopes; null = all of the principal's rights. */
  scopes: readonly Scope[] | null;
  /** Server restriction; null = no restriction. */
  servers: readonly string[] | null;
  rateLimitPerHour: number | null;
  /** Credential expiry, epoch ms, if any. */
  expiresAt: number | null;
  /**
   * The resource (RFC 8707) an access token of the gateway's authorization
   * server is bound to: `<public_url>/mcp/{server}` or `<public_url>/mcp`.
   * Such a principal is refused anywhere else (auth/resource-binding.ts).
   */
  resource?: string | null;
  /** The OAuth client the credential was issued to (authorization-server tokens). */
  clientId?: string | null;
}

const IMPLIED: Record<Scope, readonly Scope[]> = {
  'mcp:read': [],
  'mcp:execute': ['mcp:read'],
  'api:read': [],
  'api:write': ['api:read'],
  admin: [],
};

/** Expand implications: mcp:execute → mcp:read, api:write → api:read. */
export function expandScopes(scopes: readonly Scope[]): Scope[] {
  const out = new Set<Scope>();
  for (const s of scopes) {
    out.add(s);
    for (const i of IMPLIED[s]) out.add(i);
  }
  return [...out];
}

/** True when the credential carries `scope` (or carries no scope restriction at all). */
export function hasScope(p: Pick<Principal, 'scopes'>, scope: Scope): boolean {
  if (p.scopes === null) return true;
  if (p.scopes.includes(scope)) return true;
  for (const s of p.scopes) if (IMPLIED[s].includes(scope)) return true;
  return false;
}

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

/**
 * A principal from an external identity (jwt, introspection, static, mtls):
 * id `<provider>:<subject>`, no login session, server restriction or token
 * rate limit of ours. Fields not given are null.
 */
export function externalPrincipal(p: {
  provider: string;
  subject: string;
  method: Extract<AuthMethod, 'jwt' | 'introspection' | 'static' | 'mtls'>;
  role: Role;
  groups: readonly string[];
  email?: string | null;
  username?: string | null;
  tokenId?: string | null;
  scopes?: readonly Scope[] | null;
  expiresAt?: number | null;
}): Principal {
  return {
    type: 'external',
    id: externalPrincipalId(p.provider, p.subject),
    email: p.email ?? null,
    username: p.username ?? null,
    role: p.role,
    groups: p.groups,
    method: p.method,
    provider: p.provider,
    tokenId: p.tokenId ?? null,
    sessionFamily: null,
    scopes: p.scopes ?? null,
    servers: null,
    rateLimitPerHour: null,
    expiresAt: p.expiresAt ?? null,
  };
}
