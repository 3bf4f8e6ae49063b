/**
 * Custom role administration (/api/v1/roles and the CLI): list, get, create,
 * update, delete. Built-in roles and the config file's roles are read-only.
 * A role in use (held by a user) cannot be deleted (409 `role_in_use`).
 * Nobody hands out more than they hold: creating, changing or deleting a role
 * needs every permission it has (or had). Every change publishes a `roles`
 * event so the next request on every replica sees the new permissions.
 */
import { z } from 'zod';
import { permissionSchema, roleDefSchema, roleName, type Permission } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { auditActor, type AdminDeps, type Caller } from './admin.js';
import { lacking } from './permissions.js';
import { type RoleView } from './roles.js';

export const createRoleSchema = roleDefSchema;
export type CreateRoleInput = z.output<typeof createRoleSchema>;

/** PUT body: fields left out keep their value; `name`, if given, must match the path. */
export const updateRoleSchema = z.strictObject({
  name: roleName().optional(),
  description: z.string().max(1000).optional(),
  permissions: z.array(permissionSchema).max(64).optional(),
});
export type UpdateRoleInput = z.output<typeof updateRoleSchema>;

export interface RoleWithUsage extends RoleView {
  /** Users holding the role. */
  users: number;
}

const notFound = (name: string) => new GatewayError('not_found', { detail: `No role ${name}` });
const readOnly = (name: string, source: string) =>
  new GatewayError('read_only', { detail: source === 'builtin' ? `Role ${name} is built in and cannot be changed` : `Role ${name} is defined in the config file; change it there` });

export class RoleAdminService {
  constructor(private readonly deps: AdminDeps) {}

  async list(): Promise<RoleWithUsage[]> {
    const counts = await this.deps.store.roles.userCounts();
    return (await this.deps.roles.list()).map((r) => ({ ...r, users: counts.get(r.name) ?? 0 }));
  }

  async get(name: string): Promise<RoleWithUsage> {
    const r = await this.deps.roles.get(name);
    if (!r) throw notFound(name);
    return { ...r, users: (await this.deps.store.roles.userCounts()).get(name) ?? 0 };
  }

  async create(c: Caller, input: CreateRoleInput): Promise<RoleWithUsage> {
    await this.deps.roles.ready();
    const source = this.deps.roles.sourceOf(input.name);
    if (source === 'builtin' || source === 'config') throw readOnly(input.name, source);
    const permissions = [...new Set(input.permissions)];
    await this.checkHolds(c, permissions, `Creating role ${input.name}`);
    const r = await this.deps.store.roles.create({ name: input.name, description: input.description, permissions });
    if (r === 'conflict') throw new GatewayError('conflict', { detail: `Role ${input.name} already exists` });
    await this.changed(c, 'role.create', 201, { role: r.name, permissions });
    return this.get(r.name);
  }

  async update(c: Caller, name: string, input: UpdateRoleInput): Promise<RoleWithUsage> {
    if (input.name !== undefined && input.name !== name)
      throw new GatewayError('validation_failed', {
        detail: 'Invalid name: must match the role name in the path (roles cannot be renamed)',
        errors: [{ field: 'name', message: 'must match the role name in the path (roles cannot be renamed)' }],
      });
    const cur = await this.current(name);
    const permissions = input.permissions ? [...new Set(input.permissions)] : undefined;
    await this.checkHolds(c, [...cur.permissions, ...(permissions ?? [])], `Changing role ${name}`);
    const r = await this.deps.store.roles.update(name, { description: input.description, permissions });
    if (!r) throw notFound(name);
    await this.changed(c, 'role.update', 200, { role: name, ...(permissions ? { permissions: { from: cur.permissions, to: permissions } } : {}) });
    return this.get(name);
  }

  async delete(c: Caller, name: string): Promise<void> {
    const cur = await this.current(name);
    await this.checkHolds(c, cur.permissions, `Deleting role ${name}`);
    const r = await this.deps.store.roles.delete(name);
    if (r === 'not_found') throw notFound(name);
    if (r !== 'ok') throw new GatewayError('role_in_use', { detail: `Role ${name} is held by ${r.inUse} user(s); give them another role first` });
    await this.changed(c, 'role.delete', 204, { role: name });
  }

  /** An API role (404 for unknown, 409 for built-in and config roles). */
  private async current(name: string): Promise<RoleView> {
    const r = await this.deps.roles.get(name);
    if (!r) throw notFound(name);
    if (r.source !== 'api') throw readOnly(name, r.source);
    return r;
  }

  private async checkHolds(c: Caller, permissions: readonly Permission[], what: string): Promise<void> {
    if (c.type === 'system') return;
    const missing = lacking(await this.deps.roles.permissions(c.role), permissions);
    if (missing.length) throw new GatewayError('forbidden', { detail: `${what}: it needs permissions you do not hold (${missing.join(', ')})` });
  }

  private async changed(c: Caller, action: 'role.create' | 'role.update' | 'role.delete', status: number, detail: Record<string, unknown>): Promise<void> {
    this.deps.bus.publish({ kind: 'roles' });
    // This replica applies the change before answering; others follow the bus event.
    await this.deps.roles.reload();
    this.deps.audit.record({ action, ...auditActor(c), status, detail });
  }
}
