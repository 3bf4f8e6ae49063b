/**
 * Claim mapping shared by the jwt and introspection providers: reading claims
 * by dotted path, turning role and group claims into a role and group list,
 * and turning a `scope`/`scp` claim into Portcullis scopes.
 */
import { ROLES, type Role } from '../../config/schema.js';
import { expandScopes, isScope, type Scope } from '../principal.js';

/**
 * Read a claim by path. The whole path is first tried as a literal key (Auth0
 * namespaced claims such as `https://example.com/roles` contain dots), then
 * every split at a dot from left to right, so `resource_access.my.app.roles`
 * finds the client `my.app`. Only own properties are followed: `__proto__`,
 * `constructor` and friends never resolve.
 */
export function readClaim(obj: unknown, path: string, depth = 0): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || depth > 16) return undefined;
  const rec = obj as Record<string, unknown>;
  if (Object.hasOwn(rec, path)) return rec[path];
  for (let i = path.indexOf('.'); i !== -1; i = path.indexOf('.', i + 1)) {
    const head = path.slice(0, i);
    if (!Object.hasOwn(rec, head)) continue;
    const v = readClaim(rec[head], path.slice(i + 1), depth + 1);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Strings from a claim that is a string or an array (non-strings dropped). */
export function stringValues(v: unknown): string[] {
  if (typeof v === 'string') return v.length ? [v] : [];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [];
}

const RANK: Record<string, number> = { user: 0, viewer: 1, operator: 2, admin: 3 };
/** Custom roles (from `roles:`, reachable only through role_map) rank between user and viewer. */
const CUSTOM_RANK = 0.5;
const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s);
const rankOf = (r: Role) => RANK[r] ?? CUSTOM_RANK;

/**
 * The role for a set of claim values: each value goes through `role_map`
 * first (so an IdP role that happens to be called `admin` can be remapped,
 * or mapped to a custom role), then counts as itself if it is a built-in
 * role name; others are ignored. The highest resulting role wins (built-in
 * order user < custom < viewer < operator < admin; the first of equals);
 * with none, `defaultRole`.
 */
export function mapRole(values: readonly string[], roleMap: Readonly<Record<string, Role>>, defaultRole: Role): Role {
  let best: Role | null = null;
  for (const v of values) {
    const r: Role | null = Object.hasOwn(roleMap, v) ? roleMap[v] : isRole(v) ? v : null;
    if (r && (best === null || rankOf(r) > rankOf(best))) best = r;
  }
  return best ?? defaultRole;
}

const MAX_GROUPS = 256;

/** Group names from a string or array claim, de-duplicated, bounded. */
export function mapGroups(v: unknown): string[] {
  return [...new Set(stringValues(v))].slice(0, MAX_GROUPS);
}

/**
 * Portcullis scopes from a token's `scope` (space-separated string, RFC 8693
 * / RFC 9068) or `scp` (string or array: Entra ID, Okta) claim.
 *
 * Rule: when the claim names at least one Portcullis scope (`mcp:read`,
 * `mcp:execute`, `api:read`, `api:write`, `admin`), the credential is narrowed
 * to those scopes (with implications: `mcp:execute` ⇒ `mcp:read`,
 * `api:write` ⇒ `api:read`). When there is no scope claim, or it names only
 * other scopes (`openid profile`...), the credential carries all rights of
 * its role and groups (null).
 */
export function mapScopes(claims: Record<string, unknown>): Scope[] | null {
  const raw = [...scopeValues(claims.scope), ...scopeValues(claims.scp)];
  const ours = raw.filter(isScope);
  return ours.length ? expandScopes(ours) : null;
}

/** Every scope a `scope`/`scp` value lists. */
export function scopeValues(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.flatMap((x) => (typeof x === 'string' ? x.split(' ').filter(Boolean) : []));
  return [];
}

/** A subject claim as a string (numbers allowed, e.g. GitHub-style ids). */
export function subjectOf(v: unknown): string | null {
  if (typeof v === 'string' && v.length > 0 && v.length <= 1024) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
}

export const stringOrNull = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= 1024 ? v : null);
