/**
 * The permission model of the management API (SPEC §14). A role is a set of
 * permissions; the built-in roles are fixed sets, custom roles come from the
 * config (`roles:`) and the API (`/api/v1/roles`). MCP access is not a
 * permission: it comes from groups only (or the built-in `admin` role).
 *
 * Token scopes still narrow a credential: a read needs `api:read`, a write
 * `api:write`, and permissions that were admin-only before roles existed
 * (every `*:write` and `tokens:manage-all`) also need the `admin` scope on
 * a scoped credential.
 */
import { PERMISSIONS, ROLES, type BuiltinRole, type Permission } from '../config/schema.js';
import { hasScope, type Scope } from './principal.js';

export { PERMISSIONS, type Permission };

const VIEWER: readonly Permission[] = ['servers:read', 'users:read', 'groups:read', 'audit:read'];

/** The built-in roles as permission sets. */
export const BUILTIN_ROLE_PERMISSIONS: Readonly<Record<BuiltinRole, readonly Permission[]>> = Object.freeze({
  admin: PERMISSIONS,
  operator: [...VIEWER, 'servers:operate'],
  viewer: VIEWER,
  user: [],
});

export const BUILTIN_ROLE_DESCRIPTIONS: Readonly<Record<BuiltinRole, string>> = Object.freeze({
  admin: 'Everything; MCP access to every server and tool',
  operator: 'Viewer rights, and starts, stops and discovers servers',
  viewer: 'Reads servers, users, groups and the audit',
  user: 'Own profile and own tokens only',
});

export const BUILTIN_ROLES = ROLES;

/** Permissions that also need the `admin` scope on a scoped credential. */
export const ADMIN_SCOPED: ReadonlySet<Permission> = new Set<Permission>([
  'servers:write',
  'users:write',
  'groups:write',
  'tokens:manage-all',
  'service-accounts:write',
  'oauth-clients:write',
]);

/** The token scopes an operation under `permission` needs: `api:read` or `api:write`, plus `admin` where marked. */
export function scopesFor(permission: Permission, write: boolean): Scope[] {
  const s: Scope[] = [write ? 'api:write' : 'api:read'];
  if (ADMIN_SCOPED.has(permission)) s.push('admin');
  return s;
}

/** The first scope among `needed` the credential lacks, if any. */
export function missingScope(c: { scopes: readonly Scope[] | null }, needed: readonly Scope[]): Scope | undefined {
  return needed.find((s) => !hasScope(c, s));
}

/** Permissions in `wanted` that `held` lacks (for "you cannot grant what you do not hold"). */
export function lacking(held: ReadonlySet<Permission>, wanted: Iterable<Permission>): Permission[] {
  return [...new Set(wanted)].filter((p) => !held.has(p));
}
