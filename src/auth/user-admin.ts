/**
 * User administration: list, get, create, update (role, groups, disabled),
 * delete. Plain values in and out; the HTTP routes and the CLI both call this.
 *
 * Every change publishes a `user` event so the identity cache drops the user
 * and the very next request sees the new role, groups or disabled flag.
 * Disabling ends the user's login sessions; deleting also revokes every API
 * token (and publishes a `token` event for each). The last enabled admin can
 * be neither demoted, disabled nor deleted (409 `last_admin`).
 *
 * `role` names a built-in, config or API role (an unknown one is 422). A
 * caller may only manage users whose role it could hand out itself, and only
 * hand out roles whose permissions it holds (see checkMayHandleRole).
 */
import { z } from 'zod';
import { groupName, roleSchema, type Role } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { UniqueViolation, type UserRecord } from '../store/index.js';
import { auditActor, checkMayHandleRole, type AdminDeps, type Caller } from './admin.js';
import { hashPassword } from './passwords.js';
import { emailSchema, passwordSchema, usernameSchema } from './user-fields.js';
import { publicUser, type PublicUser } from './sessions.js';

const email = emailSchema;
const password = passwordSchema;
const username = usernameSchema;
const groupList = z.array(groupName()).max(256);

export const createUserSchema = z.strictObject({
  email,
  password,
  role: roleSchema.optional(),
  groups: groupList.optional(),
  username: username.optional(),
  name: z.string().max(200).optional(),
});
export type CreateUserInput = z.output<typeof createUserSchema>;

export const updateUserSchema = z.strictObject({
  role: roleSchema.optional(),
  groups: groupList.optional(),
  disabled: z.boolean().optional(),
});
export type UpdateUserInput = z.output<typeof updateUserSchema>;

/** A role field that must name an existing role (`roles`: the names that exist now). */
const knownRole = (roles: ReadonlySet<string>) =>
  roleSchema.refine((r) => roles.has(r), { error: (i) => `no role named ${String(i.input)} (built-in: admin, operator, viewer, user; or a custom role)` });

/** The create body, checked against the roles that exist: every problem, the role's too, in one answer. */
export const createUserSchemaFor = (roles: ReadonlySet<string>) => createUserSchema.extend({ role: knownRole(roles).optional() });
export const updateUserSchemaFor = (roles: ReadonlySet<string>) => updateUserSchema.extend({ role: knownRole(roles).optional() });

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = () => new GatewayError('not_found', { detail: 'No such user' });
const lastAdmin = () => new GatewayError('last_admin', { detail: 'This is the last enabled admin: promote another user to admin first' });

export class UserAdminService {
  constructor(private readonly deps: AdminDeps) {}

  async list(opts: { limit?: number; offset?: number } = {}): Promise<PublicUser[]> {
    return (await this.deps.store.users.list(opts)).map(publicUser);
  }

  /** One user by id, email or username. */
  async get(ref: string): Promise<PublicUser> {
    const u = UUID_RE.test(ref) ? await this.deps.store.users.byId(ref.toLowerCase()) : await this.deps.store.users.byLogin(ref);
    if (!u) throw new GatewayError('not_found', { detail: `No user ${ref.slice(0, 320)}` });
    return publicUser(u);
  }

  /** A user by id, email or username (the CLI accepts any of them). */
  async resolve(ref: string): Promise<UserRecord> {
    const u = UUID_RE.test(ref) ? await this.deps.store.users.byId(ref.toLowerCase()) : await this.deps.store.users.byLogin(ref);
    if (!u) throw new GatewayError('not_found', { detail: `No user ${ref}` });
    return u;
  }

  async create(c: Caller, input: CreateUserInput): Promise<PublicUser> {
    const role = input.role ?? 'user';
    await this.checkRole(role);
    await checkMayHandleRole(this.deps.roles, c, role, 'Creating the user');
    const passwordHash = await hashPassword(input.password);
    let user: UserRecord;
    try {
      user = await this.deps.store.users.create({
        email: input.email,
        username: input.username ?? null,
        name: input.name ?? null,
        passwordHash,
        role,
        groups: dedupe(input.groups ?? []),
      });
    } catch (e) {
      if (e instanceof UniqueViolation) throw new GatewayError('conflict', { detail: `A user with that ${e.field} already exists` });
      throw e;
    }
    // An admin made here settles the bootstrap: self-registration no longer hands out admin.
    if (user.role === 'admin') await this.deps.store.users.markBootstrapped(user.id);
    this.deps.bus.publish({ kind: 'user', id: user.id });
    this.deps.audit.record({ action: 'user.create', ...auditActor(c), status: 201, detail: { user_id: user.id, email: user.email, role: user.role, groups: user.groups } });
    return publicUser(user);
  }

  async update(c: Caller, id: string, input: UpdateUserInput): Promise<PublicUser> {
    const before = await this.record(id);
    await checkMayHandleRole(this.deps.roles, c, before.role, `Changing ${before.email}`);
    if (input.role !== undefined && input.role !== before.role) {
      await this.checkRole(input.role);
      await checkMayHandleRole(this.deps.roles, c, input.role, `Giving ${before.email} the role ${input.role}`);
    }
    const patch: { role?: Role; groups?: string[]; disabled?: boolean } = {};
    if (input.role !== undefined) patch.role = input.role;
    if (input.groups !== undefined) patch.groups = dedupe(input.groups);
    if (input.disabled !== undefined) patch.disabled = input.disabled;
    const r = await this.deps.store.users.update(before.id, patch);
    if (r === 'not_found') throw notFound();
    if (r === 'last_admin') throw lastAdmin();
    this.deps.bus.publish({ kind: 'user', id: r.id });
    if (patch.disabled === true && !before.disabled) await this.deps.sessions.revokeAllSessions(r.id);
    const changed: Record<string, unknown> = {};
    if (patch.role !== undefined && patch.role !== before.role) changed.role = { from: before.role, to: patch.role };
    if (patch.groups !== undefined) changed.groups = { from: before.groups, to: patch.groups };
    if (patch.disabled !== undefined && patch.disabled !== before.disabled) changed.disabled = patch.disabled;
    this.deps.audit.record({ action: 'user.update', ...auditActor(c), status: 200, detail: { user_id: r.id, changed } });
    return publicUser(r);
  }

  /** Delete the user and revoke all of their sessions and API tokens. */
  async delete(c: Caller, id: string): Promise<void> {
    const u = await this.record(id);
    await checkMayHandleRole(this.deps.roles, c, u.role, `Deleting ${u.email}`);
    const tokens = await this.deps.store.apiTokens.list(u.id);
    const credentialServers = await this.deps.store.credentials.serversOf(u.id);
    const r = await this.deps.store.users.delete(u.id);
    if (r === 'not_found') throw notFound();
    if (r === 'last_admin') throw lastAdmin();
    // The store revoked tokens and refresh families in the same transaction; tell the caches.
    // Access tokens of the user's sessions die with the `user` event: every
    // request re-reads the (now missing) user through the identity cache.
    this.deps.bus.publish({ kind: 'user', id: u.id });
    for (const t of tokens) this.deps.bus.publish({ kind: 'token', hash: t.tokenHash });
    // The store deleted the user's stored upstream credentials too; drop their cached copies.
    for (const server of credentialServers) this.deps.bus.publish({ kind: 'credentials', principal: u.id, server });
    this.deps.audit.record({ action: 'user.delete', ...auditActor(c), status: 204, detail: { user_id: u.id, email: u.email, revoked_tokens: tokens.length } });
  }

  /** 422 naming the field when no such role exists. */
  private async checkRole(role: string): Promise<void> {
    if (await this.deps.roles.get(role)) return;
    throw new GatewayError('validation_failed', { detail: `Invalid role: no role named ${role}`, errors: [{ field: 'role', message: `no role named ${role} (built-in: admin, operator, viewer, user; or a custom role)` }] });
  }

  private async record(id: string): Promise<UserRecord> {
    const u = UUID_RE.test(id) ? await this.deps.store.users.byId(id.toLowerCase()) : undefined;
    if (!u) throw notFound();
    return u;
  }
}

const dedupe = (a: readonly string[]): string[] => [...new Set(a)];
