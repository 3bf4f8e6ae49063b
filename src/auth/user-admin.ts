/**
 * User administration: list, get, create, update (role, groups, disabled),
 * delete. Plain values in and out; the HTTP routes and the CLI both call this.
 *
 * Every change publishes a `user` event so the identity cache drops the user
 * and the very next request sees the new role, groups or disabled flag.
 * Disabling ends the user's login sessions; deleting also revokes every API
 * token (and publishes a `token` event for each). The last enabled admin can
 * be neither demoted, disabled nor deleted (409 `last_admin`).
 */
import { z } from 'zod';
import { groupName, roleSchema, type Role } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { UniqueViolation, type UserRecord } from '../store/index.js';
import { auditActor, type AdminDeps, type Caller } from './admin.js';
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

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = () => new GatewayError('not_found', { detail: 'No such user' });
const lastAdmin = () => new GatewayError('last_admin', { detail: 'This is the last enabled admin: promote another user to admin first' });

export class UserAdminService {
  constructor(private readonly deps: AdminDeps) {}

  async list(opts: { limit?: number; offset?: number } = {}): Promise<PublicUser[]> {
    return (await this.deps.store.users.list(opts)).map(publicUser);
  }

  async get(id: string): Promise<PublicUser> {
    return publicUser(await this.record(id));
  }

  /** A user by id, email or username (the CLI accepts any of them). */
  async resolve(ref: string): Promise<UserRecord> {
    const u = UUID_RE.test(ref) ? await this.deps.store.users.byId(ref.toLowerCase()) : await this.deps.store.users.byLogin(ref);
    if (!u) throw new GatewayError('not_found', { detail: `No user ${ref}` });
    return u;
  }

  async create(c: Caller, input: CreateUserInput): Promise<PublicUser> {
    const passwordHash = await hashPassword(input.password);
    let user: UserRecord;
    try {
      user = await this.deps.store.users.create({
        email: input.email,
        username: input.username ?? null,
        name: input.name ?? null,
        passwordHash,
        role: input.role ?? 'user',
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

  private async record(id: string): Promise<UserRecord> {
    const u = UUID_RE.test(id) ? await this.deps.store.users.byId(id.toLowerCase()) : undefined;
    if (!u) throw notFound();
    return u;
  }
}

const dedupe = (a: readonly string[]): string[] => [...new Set(a)];
