/**
 * Every role the gateway knows and its permissions: the built-in four, the
 * config file's `roles:` (read-only) and roles made through the API (the
 * `roles` table). Loaded once and reloaded on a `roles` (or `flush`) bus
 * event, so a change applies to the very next request on every replica; a
 * request arriving during a reload waits for it.
 *
 * A role name nobody defines (a deleted role still named by an external
 * identity, say) has no permissions: deny by default.
 */
import { type Permission, type RoleDef } from '../config/schema.js';
import { type Bus } from '../lib/bus.js';
import { type RoleRecord, type Store } from '../store/index.js';
import { BUILTIN_ROLE_DESCRIPTIONS, BUILTIN_ROLE_PERMISSIONS, BUILTIN_ROLES, missingScope, scopesFor } from './permissions.js';
import { type Scope } from './principal.js';

export type RoleSource = 'builtin' | 'config' | 'api';

export interface RoleView {
  name: string;
  description: string;
  permissions: Permission[];
  source: RoleSource;
  created_at: string | null;
  updated_at: string | null;
}

const NONE: ReadonlySet<Permission> = new Set();

/** Who asks, as far as permissions go (a Principal or an admin Caller fits). */
export interface PermissionSubject {
  type: string;
  role: string;
  scopes: readonly Scope[] | null;
}

export class RoleCatalog {
  /** Built-in and config roles: fixed for the life of the process. */
  private readonly fixed = new Map<string, RoleView>();
  private stored = new Map<string, RoleRecord>();
  private sets = new Map<string, ReadonlySet<Permission>>();
  private loading: Promise<void> | null = null;
  private fresh = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    bus: Bus,
    configRoles: readonly RoleDef[],
  ) {
    for (const name of BUILTIN_ROLES)
      this.fixed.set(name, { name, description: BUILTIN_ROLE_DESCRIPTIONS[name], permissions: [...BUILTIN_ROLE_PERMISSIONS[name]], source: 'builtin', created_at: null, updated_at: null });
    for (const r of configRoles)
      this.fixed.set(r.name, { name: r.name, description: r.description, permissions: [...new Set(r.permissions)], source: 'config', created_at: null, updated_at: null });
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'roles' || e.kind === 'flush') void this.reload().catch(() => undefined); // the next ready() retries
    });
  }

  /** Resolves once the stored roles are loaded and no reload is in flight. */
  async ready(): Promise<void> {
    while (!this.fresh) await (this.loading ?? this.reload());
  }

  /** Permissions of a role without waiting (null while a reload is in flight: await permissions()). */
  permissionsNow(role: string): ReadonlySet<Permission> | null {
    return this.fresh ? (this.sets.get(role) ?? NONE) : null;
  }

  async permissions(role: string): Promise<ReadonlySet<Permission>> {
    return this.permissionsNow(role) ?? (await this.ready(), this.sets.get(role) ?? NONE);
  }

  /**
   * May `s` act under `permission`? The system caller (the local CLI) may do
   * anything; anyone else needs the permission in their role and, on a scoped
   * credential, the scopes the permission needs (`admin` where marked).
   */
  async allows(s: PermissionSubject, permission: Permission, write = true): Promise<boolean> {
    if (s.type === 'system') return true;
    if (!(await this.permissions(s.role)).has(permission)) return false;
    return missingScope(s, scopesFor(permission, write)) === undefined;
  }

  async get(name: string): Promise<RoleView | undefined> {
    await this.ready();
    return this.fixed.get(name) ?? viewOf(this.stored.get(name));
  }

  /** Built-in roles first, then config and API roles by name. */
  async list(): Promise<RoleView[]> {
    await this.ready();
    const custom = [...[...this.fixed.values()].filter((r) => r.source === 'config'), ...[...this.stored.values()].map((r) => viewOf(r)!)];
    return [...[...this.fixed.values()].filter((r) => r.source === 'builtin'), ...custom.sort((a, b) => a.name.localeCompare(b.name))];
  }

  /** Every role name that exists now. */
  async names(): Promise<ReadonlySet<string>> {
    await this.ready();
    return new Set(this.sets.keys());
  }

  /** Where a role is defined, if anywhere. */
  sourceOf(name: string): RoleSource | undefined {
    return this.fixed.get(name)?.source ?? (this.stored.has(name) ? 'api' : undefined);
  }

  /** Start a load; only the latest one's result is kept. */
  reload(): Promise<void> {
    const p: Promise<void> = this.store.roles.list().then((rows) => {
      if (this.loading !== p) return;
      const stored = new Map<string, RoleRecord>();
      for (const r of rows) if (!this.fixed.has(r.name)) stored.set(r.name, r);
      const sets = new Map<string, ReadonlySet<Permission>>();
      for (const [n, r] of this.fixed) sets.set(n, new Set(r.permissions));
      for (const [n, r] of stored) sets.set(n, new Set(r.permissions));
      this.stored = stored;
      this.sets = sets;
      this.fresh = true;
    });
    this.loading = p;
    this.fresh = false;
    p.catch(() => {
      if (this.loading === p) this.loading = null;
    });
    return p;
  }

  close(): void {
    this.unsubscribe();
  }
}

function viewOf(r: RoleRecord | undefined): RoleView | undefined {
  return r && { name: r.name, description: r.description, permissions: r.permissions, source: 'api', created_at: r.createdAt, updated_at: r.updatedAt };
}
