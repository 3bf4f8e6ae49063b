/**
 * Who is asking, for the administration services (API tokens, users, groups).
 * The HTTP layer builds a Caller from the authenticated Principal; the CLI acts
 * as the built-in `system` caller (full rights, like an admin with an
 * unrestricted credential). Plain values only; no HTTP here.
 */
import { type AuditEvent, type AuditSink } from '../audit/types.js';
import { type Role } from '../config/schema.js';
import { type Bus } from '../lib/bus.js';
import { GatewayError } from '../errors/index.js';
import { type Store } from '../store/index.js';
import { lacking } from './permissions.js';
import { hasScope, type AuthMethod, type Principal, type Scope } from './principal.js';
import { type RoleCatalog } from './roles.js';

export interface Caller {
  /** Principal id (user UUID, `sa:<client_id>`, `<provider>:<subject>`) or `cli`. */
  id: string;
  type: Principal['type'] | 'system';
  role: Role;
  /** How the caller authenticated; null for the CLI. */
  method: AuthMethod | null;
  /** Scopes of the caller's credential; null = unrestricted. */
  scopes: readonly Scope[] | null;
  /** Server restriction of the caller's credential; null = none. */
  servers: readonly string[] | null;
  /** Rate limit of the caller's credential (API tokens), if any. */
  rateLimitPerHour: number | null;
  /** Expiry of the caller's credential, epoch ms, if any. */
  expiresAt: number | null;
  tokenId: string | null;
  ip: string | null;
}

export function callerFromPrincipal(p: Principal, ip: string | null): Caller {
  return {
    id: p.id,
    type: p.type,
    role: p.role,
    method: p.method,
    scopes: p.scopes,
    servers: p.servers,
    rateLimitPerHour: p.rateLimitPerHour,
    expiresAt: p.expiresAt,
    tokenId: p.tokenId,
    ip,
  };
}

/** The local CLI: it already holds the store, so it acts with full rights. */
export const SYSTEM_CALLER: Caller = Object.freeze({
  id: 'cli',
  type: 'system',
  role: 'admin',
  method: null,
  scopes: null,
  servers: null,
  rateLimitPerHour: null,
  expiresAt: null,
  tokenId: null,
  ip: null,
}) as Caller;

/** Admin rights need the admin role and, on a scoped credential, the `admin` scope. */
export const isAdminCaller = (c: Caller): boolean => c.role === 'admin' && hasScope(c, 'admin');

/**
 * No escalation through the management API: a caller may hand out, take away
 * or act for a role only when it holds every permission of that role itself,
 * and only an admin may do so for `admin` (the one role with MCP access to
 * everything). The local CLI (system) may do anything.
 */
export async function checkMayHandleRole(roles: RoleCatalog, c: Caller, role: string, what: string): Promise<void> {
  if (c.type === 'system') return;
  if (role === 'admin' && !isAdminCaller(c)) throw new GatewayError('forbidden', { detail: `${what}: only an admin can do this for the admin role` });
  const missing = lacking(await roles.permissions(c.role), await roles.permissions(role));
  if (missing.length) throw new GatewayError('forbidden', { detail: `${what}: role ${role} has permissions you do not hold (${missing.join(', ')})` });
}

/** Audit fields identifying the caller. */
export function auditActor(c: Caller): Pick<AuditEvent, 'actor' | 'actorType' | 'tokenId' | 'ip'> {
  return { actor: c.id, actorType: c.type, tokenId: c.tokenId, ip: c.ip };
}

/** Ends login sessions of a user (SessionService implements it). */
export interface SessionRevoker {
  revokeAllSessions(userId: string): Promise<void>;
}

/** Collaborators shared by the administration services. */
export interface AdminDeps {
  store: Store;
  /** Cache invalidation: every change is published so the next request sees it. */
  bus: Bus;
  audit: AuditSink;
  sessions: SessionRevoker;
  /** Every role and its permissions (built-in, config, API). */
  roles: RoleCatalog;
  /** Writes pending API-token usage counters (so reads are current). */
  usage?: { flush(): Promise<void> };
  /**
   * `rate_limits.per_token.default_per_hour`: the budget of a token without
   * its own limit. Non-admins cannot give a token more than this.
   */
  tokenDefaultRatePerHour?: number | null;
}
