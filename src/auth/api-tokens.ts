/**
 * API token lifecycle: create, list, get (with usage), narrow, rotate, revoke,
 * validate. Plain values in and out; the HTTP routes and the CLI both call this.
 *
 * Rules (docs/api.md, "API tokens"):
 * - Scopes are the five of principal.ts; `admin` only for an admin caller and
 *   an admin owner.
 * - A token can never exceed the credential that created it: a scoped caller
 *   grants at most its own (expanded) scopes and servers, a rate-limited caller
 *   at most its own rate, a caller holding an expiring API token at most its
 *   own expiry. Omitted fields inherit those limits.
 * - PATCH only narrows (scopes, servers; rate limit lowered unless admin).
 * - A token that is not the caller's own (and the caller is no admin) is
 *   reported as not found, so ids cannot be probed.
 * - Every change publishes a `token` event with the old hash, so caches drop it
 *   and the next request sees the new state.
 */
import { z } from 'zod';
import { serverName, type Role } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { uuid } from '../lib/crypto.js';
import { clientIdOfPrincipalId, serviceAccountPrincipalId } from '../lib/principal-id.js';
import { now } from '../lib/time.js';
import { type ApiTokenRecord } from '../store/index.js';
import { auditActor, checkMayHandleRole, isAdminCaller, type AdminDeps, type Caller } from './admin.js';
import { ADMIN_SCOPED } from './permissions.js';
import { newApiToken } from './api-token-format.js';
import { expandScopes, SCOPES, type Principal, type Scope } from './principal.js';

export const TOKEN_NAME_MAX = 100;
export const TOKEN_EXPIRY_MAX_DAYS = 3650;
export const TOKEN_RATE_LIMIT_MAX = 100_000_000;
/** Live tokens one owner may hold; keeps a leaked credential from minting without bound. */
export const MAX_TOKENS_PER_OWNER = 200;

const scopeList = z.array(z.enum(SCOPES)).min(1, 'must list at least one scope').max(SCOPES.length);
const serverList = z.array(serverName()).min(1, 'must list at least one server').max(256);
const tokenName = z.string().trim().min(1, 'must not be empty').max(TOKEN_NAME_MAX, `must be at most ${TOKEN_NAME_MAX} characters`);
const rateLimit = z.number().int('must be an integer').min(1, 'must be a positive integer').max(TOKEN_RATE_LIMIT_MAX);

export const createTokenSchema = z.strictObject({
  name: tokenName,
  scopes: scopeList.optional(),
  servers: serverList.optional(),
  expires_in_days: z.number().int('must be an integer').min(1).max(TOKEN_EXPIRY_MAX_DAYS).optional(),
  rate_limit_per_hour: rateLimit.optional(),
});
export type CreateTokenInput = z.output<typeof createTokenSchema>;

export const patchTokenSchema = z.strictObject({
  name: tokenName.optional(),
  scopes: scopeList.optional(),
  servers: serverList.optional(),
  /** null removes the limit (admins only: it raises it). */
  rate_limit_per_hour: rateLimit.nullable().optional(),
});
export type PatchTokenInput = z.output<typeof patchTokenSchema>;

export interface ApiTokenView {
  id: string;
  name: string;
  prefix: string;
  scopes: string[] | null;
  servers: string[] | null;
  expires_at: string | null;
  rate_limit_per_hour: number | null;
  created_at: string;
  last_used_at: string | null;
  use_count: number;
  owner_id: string;
  owner_type: 'user' | 'service_account';
  /** The owner's email (users), null for service accounts and owners that are gone. */
  owner_email: string | null;
  /** The service account's name (service accounts), null for users. */
  owner_name: string | null;
  expired: boolean;
}

export interface ApiTokenDetail extends ApiTokenView {
  /** Requests per MCP server (recorded by the proxy). */
  usage_by_server: Record<string, number>;
}

export interface IssuedToken {
  api_token: ApiTokenView;
  /** The secret: returned here once and never again. */
  token: string;
}

export const tokenView = (r: ApiTokenRecord, owner: { email?: string | null; name?: string | null } = {}): ApiTokenView => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes,
  servers: r.servers,
  expires_at: r.expiresAt,
  rate_limit_per_hour: r.rateLimitPerHour,
  created_at: r.createdAt,
  last_used_at: r.lastUsedAt,
  use_count: r.useCount,
  owner_id: r.ownerId,
  owner_type: r.ownerType,
  owner_email: owner.email ?? null,
  owner_name: owner.name ?? null,
  expired: r.expiresAt !== null && Date.parse(r.expiresAt) <= now(),
});

/** Who a new token belongs to. */
export type TokenOwner = { type: 'user'; id: string } | { type: 'service_account'; id: string };

const notFound = () => new GatewayError('not_found', { detail: 'No such API token' });
const notGrantable = (detail: string) => new GatewayError('scope_not_grantable', { detail });
const widening = (detail: string) => new GatewayError('token_widening', { detail });

const isSubset = (a: readonly string[], b: readonly string[]) => a.every((x) => b.includes(x));

export class ApiTokenService {
  constructor(private readonly deps: AdminDeps) {}

  /** The owner a caller's own tokens belong to (API: tokens are always the caller's own). */
  ownerOf(c: Caller): TokenOwner {
    if (c.type === 'user') return { type: 'user', id: c.id };
    const clientId = c.type === 'service_account' ? clientIdOfPrincipalId(c.id) : undefined;
    if (clientId !== undefined) return { type: 'service_account', id: clientId };
    throw new GatewayError('forbidden', { detail: 'Only local users and service accounts can hold API tokens' });
  }

  async create(c: Caller, owner: TokenOwner, input: CreateTokenInput): Promise<IssuedToken> {
    const ownerRole = await this.ownerRole(owner, { mustBeEnabled: true });
    if (!this.isOwn(c, owner)) await this.checkManageFor(c, ownerRole, 'Creating a token for someone else');
    const scopes = input.scopes ? [...new Set(input.scopes)] : c.scopes ? [...c.scopes] : null;
    const servers = input.servers ? [...new Set(input.servers)] : c.servers ? [...c.servers] : null;
    await this.checkGrantable(c, ownerRole, scopes, servers);

    let rate = input.rate_limit_per_hour ?? c.rateLimitPerHour;
    if (c.rateLimitPerHour !== null && rate !== null && rate > c.rateLimitPerHour)
      throw notGrantable(`rate_limit_per_hour cannot exceed the ${c.rateLimitPerHour}/hour of the credential making this request`);
    const dflt = this.deps.tokenDefaultRatePerHour ?? null;
    if (dflt !== null && rate !== null && rate > dflt && !(await this.deps.roles.allows(c, 'tokens:manage-all')))
      throw notGrantable(`rate_limit_per_hour: only an admin (tokens:manage-all) can set more than the default ${dflt}/hour`);
    rate ??= null;

    let expiresMs = input.expires_in_days !== undefined ? now() + input.expires_in_days * 86_400_000 : null;
    if (c.method === 'api_token' && c.expiresAt !== null) {
      if (expiresMs !== null && expiresMs > c.expiresAt)
        throw notGrantable('expires_in_days: a token cannot outlive the API token making this request');
      expiresMs ??= c.expiresAt;
    }

    const live = await this.deps.store.apiTokens.list(owner.id);
    if (live.length >= MAX_TOKENS_PER_OWNER)
      throw new GatewayError('conflict', { detail: `At most ${MAX_TOKENS_PER_OWNER} live API tokens per owner; revoke some first` });

    const secret = newApiToken();
    const rec = await this.deps.store.apiTokens.insert({
      id: uuid(),
      ownerId: owner.id,
      ownerType: owner.type,
      name: input.name,
      prefix: secret.prefix,
      tokenHash: secret.hash,
      scopes,
      servers,
      expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
      rateLimitPerHour: rate,
    });
    // A lookup of this hash may have been cached as "unknown" (someone guessed it); drop that.
    this.deps.bus.publish({ kind: 'token', hash: rec.tokenHash });
    this.deps.audit.record({
      action: 'token.create',
      ...auditActor(c),
      status: 201,
      detail: { token_id: rec.id, owner_id: owner.id, owner_type: owner.type, name: rec.name, scopes, servers, expires_at: rec.expiresAt, rate_limit_per_hour: rate },
    });
    return { api_token: await this.view(rec), token: secret.token };
  }

  /** Tokens of the caller, or (admins) of one user or of everybody. */
  async list(c: Caller, opts: { userId?: string; all?: boolean; owner?: TokenOwner } = {}): Promise<ApiTokenView[]> {
    const self = opts.owner ?? (c.type === 'system' ? undefined : this.ownerOf(c));
    let ownerId: string | undefined;
    const manageAll = await this.deps.roles.allows(c, 'tokens:manage-all', false);
    if (opts.all) {
      if (!manageAll) throw new GatewayError('forbidden', { detail: 'Listing every token needs the tokens:manage-all permission' });
      ownerId = undefined;
    } else if (opts.userId !== undefined && opts.userId !== self?.id) {
      if (!manageAll) throw new GatewayError('forbidden', { detail: "Listing another user's tokens needs the tokens:manage-all permission" });
      ownerId = opts.userId;
    } else {
      ownerId = opts.userId ?? self?.id;
    }
    return this.views(await this.deps.store.apiTokens.list(ownerId));
  }

  /** One token with its usage; counters are flushed first so they are current. */
  async get(c: Caller, id: string): Promise<ApiTokenDetail> {
    await this.deps.usage?.flush();
    const rec = await this.managed(c, id, false);
    const usage_by_server = await this.deps.store.apiTokens.usageByServer(rec.id);
    return { ...(await this.view(rec)), usage_by_server };
  }

  async update(c: Caller, id: string, input: PatchTokenInput): Promise<ApiTokenView> {
    const rec = await this.managed(c, id);
    const admin = await this.deps.roles.allows(c, 'tokens:manage-all');
    const patch: { name?: string; scopes?: string[]; servers?: string[]; rateLimitPerHour?: number | null } = {};

    if (input.name !== undefined) patch.name = input.name;
    if (input.scopes !== undefined) {
      const next = [...new Set(input.scopes)];
      if (rec.scopes !== null && !isSubset(expandScopes(next), expandScopes(rec.scopes as Scope[])))
        throw widening(`scopes: a token's scopes can only be narrowed (current: ${rec.scopes.join(', ')})`);
      patch.scopes = next;
    }
    if (input.servers !== undefined) {
      const next = [...new Set(input.servers)];
      if (rec.servers !== null && !isSubset(next, rec.servers))
        throw widening(`servers: a token's servers can only be narrowed (current: ${rec.servers.join(', ')})`);
      patch.servers = next;
    }
    if (patch.scopes || patch.servers) {
      const ownerRole = await this.ownerRole({ type: rec.ownerType, id: rec.ownerId });
      await this.checkGrantable(c, ownerRole, patch.scopes ?? null, patch.servers ?? null, { onlyGiven: true });
    }
    if (input.rate_limit_per_hour !== undefined) {
      const next = input.rate_limit_per_hour;
      // A token without its own limit has the configured default (or none).
      const current = rec.rateLimitPerHour ?? this.deps.tokenDefaultRatePerHour ?? null;
      const raises = next === null ? rec.rateLimitPerHour !== null : current !== null && next > current;
      if (raises && !admin) throw widening('rate_limit_per_hour: only an admin (tokens:manage-all) can raise or remove a token\'s rate limit');
      if (c.rateLimitPerHour !== null && (next === null || next > c.rateLimitPerHour))
        throw notGrantable(`rate_limit_per_hour cannot exceed the ${c.rateLimitPerHour}/hour of the credential making this request`);
      patch.rateLimitPerHour = next;
    }

    const updated = await this.deps.store.apiTokens.update(rec.id, patch);
    if (!updated || updated.revokedAt) throw notFound();
    this.deps.bus.publish({ kind: 'token', hash: rec.tokenHash });
    this.deps.audit.record({
      action: 'token.update',
      ...auditActor(c),
      status: 200,
      detail: { token_id: rec.id, owner_id: rec.ownerId, changed: Object.keys(input), scopes: updated.scopes, servers: updated.servers, rate_limit_per_hour: updated.rateLimitPerHour },
    });
    return this.view(updated);
  }

  /** New secret, same id and settings; the old secret stops working at once. */
  async rotate(c: Caller, id: string): Promise<IssuedToken> {
    const rec = await this.managed(c, id);
    await this.checkWithinCaller(c, rec);
    const secret = newApiToken();
    const rotated = await this.deps.store.apiTokens.rotate(rec.id, secret.hash, secret.prefix);
    if (!rotated) throw notFound();
    this.deps.bus.publish({ kind: 'token', hash: rec.tokenHash });
    this.deps.bus.publish({ kind: 'token', hash: secret.hash });
    this.deps.audit.record({ action: 'token.rotate', ...auditActor(c), status: 200, detail: { token_id: rec.id, owner_id: rec.ownerId } });
    return { api_token: await this.view(rotated), token: secret.token };
  }

  async revoke(c: Caller, id: string): Promise<void> {
    const rec = await this.managed(c, id);
    const revoked = await this.deps.store.apiTokens.revoke(rec.id);
    if (!revoked) throw notFound();
    this.deps.bus.publish({ kind: 'token', hash: rec.tokenHash });
    this.deps.audit.record({ action: 'token.revoke', ...auditActor(c), status: 204, detail: { token_id: rec.id, owner_id: rec.ownerId } });
  }

  /** What the presented credential is: the answer of POST /auth/tokens/validate. */
  describe(p: Principal): {
    valid: true;
    principal: { id: string; type: Principal['type']; email: string | null; role: Role; groups: readonly string[] };
    token_id: string | null;
    method: Principal['method'];
    scopes: readonly Scope[] | null;
    servers: readonly string[] | null;
    rate_limit_per_hour: number | null;
    expires_at: string | null;
  } {
    return {
      valid: true,
      principal: { id: p.id, type: p.type, email: p.email, role: p.role, groups: p.groups },
      token_id: p.tokenId,
      method: p.method,
      scopes: p.scopes,
      servers: p.servers,
      rate_limit_per_hour: p.rateLimitPerHour,
      expires_at: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString(),
    };
  }

  /**
   * A live token the caller may manage: its own, or (with tokens:manage-all)
   * anybody's whose role the caller could hand out itself. Anything else is
   * "not found", so ids cannot be probed.
   */
  private async managed(c: Caller, id: string, write = true): Promise<ApiTokenRecord> {
    const rec = await this.deps.store.apiTokens.byId(id);
    if (!rec || rec.revokedAt) throw notFound();
    if (c.type === 'system' || this.isOwn(c, { type: rec.ownerType, id: rec.ownerId })) return rec;
    if (!(await this.deps.roles.allows(c, 'tokens:manage-all', write))) throw notFound();
    await this.checkManageFor(c, await this.ownerRole({ type: rec.ownerType, id: rec.ownerId }).catch(() => 'user'), "Managing this user's tokens");
    return rec;
  }

  private isOwn(c: Caller, owner: TokenOwner): boolean {
    return (owner.type === 'user' && c.type === 'user' && c.id === owner.id) || (owner.type === 'service_account' && c.type === 'service_account' && c.id === serviceAccountPrincipalId(owner.id));
  }

  /** tokens:manage-all, and no escalation: a token of an owner whose role the caller could not hand out is off limits. */
  private async checkManageFor(c: Caller, ownerRole: Role, what: string): Promise<void> {
    if (c.type === 'system') return;
    if (!(await this.deps.roles.allows(c, 'tokens:manage-all')))
      throw new GatewayError('forbidden', { detail: `${what} needs the tokens:manage-all permission` });
    await checkMayHandleRole(this.deps.roles, c, ownerRole, what);
  }

  /** The view with the owner's email (users) or name (service accounts). */
  private async view(rec: ApiTokenRecord): Promise<ApiTokenView> {
    return (await this.views([rec]))[0];
  }

  private async views(recs: readonly ApiTokenRecord[]): Promise<ApiTokenView[]> {
    const labels = new Map<string, { email?: string | null; name?: string | null }>();
    for (const r of recs) {
      if (labels.has(r.ownerId)) continue;
      if (r.ownerType === 'user') labels.set(r.ownerId, { email: (await this.deps.store.users.byId(r.ownerId))?.email ?? null });
      else labels.set(r.ownerId, { name: (await this.deps.store.serviceAccounts.byClientId(r.ownerId))?.name ?? null });
    }
    return recs.map((r) => tokenView(r, labels.get(r.ownerId)));
  }

  /**
   * Rotation hands out a working secret for `rec`, so a restricted credential
   * may only rotate tokens that are no stronger than itself.
   */
  private async checkWithinCaller(c: Caller, rec: ApiTokenRecord): Promise<void> {
    const ownerRole = await this.ownerRole({ type: rec.ownerType, id: rec.ownerId });
    await this.checkGrantable(c, ownerRole, rec.scopes, rec.servers);
    if (c.rateLimitPerHour !== null && (rec.rateLimitPerHour === null || rec.rateLimitPerHour > c.rateLimitPerHour))
      throw notGrantable('This token has a higher rate limit than the credential making this request');
    if (c.method === 'api_token' && c.expiresAt !== null && (rec.expiresAt === null || Date.parse(rec.expiresAt) > c.expiresAt))
      throw notGrantable('This token outlives the API token making this request');
  }

  private async ownerRole(owner: TokenOwner, opts: { mustBeEnabled?: boolean } = {}): Promise<Role> {
    if (owner.type === 'service_account') return 'user';
    const u = await this.deps.store.users.byId(owner.id);
    if (!u) throw new GatewayError('not_found', { detail: 'No such user' });
    if (u.disabled && opts.mustBeEnabled) throw new GatewayError('conflict', { detail: 'The user is disabled' });
    return u.role;
  }

  /**
   * The caller may hand out these scopes/servers: `admin` only by an admin to
   * an admin; a scoped credential only what it holds itself.
   */
  private async checkGrantable(c: Caller, ownerRole: Role, scopes: string[] | null, servers: string[] | null, opts: { onlyGiven?: boolean } = {}): Promise<void> {
    if (scopes?.includes('admin')) {
      if (c.type !== 'system' && !isAdminCaller(c)) throw notGrantable('scopes: only an admin can grant the admin scope');
      if (![...(await this.deps.roles.permissions(ownerRole))].some((p) => ADMIN_SCOPED.has(p)))
        throw notGrantable('scopes: the admin scope needs an owner whose role has admin-level permissions (e.g. the admin role)');
    }
    if (c.scopes !== null && (scopes !== null || !opts.onlyGiven)) {
      const mine = expandScopes(c.scopes);
      if (scopes === null || !isSubset(expandScopes(scopes as Scope[]), mine))
        throw notGrantable(`scopes: cannot exceed the scopes of the credential making this request (${c.scopes.join(', ')})`);
    }
    if (c.servers !== null && (servers !== null || !opts.onlyGiven)) {
      if (servers === null || !isSubset(servers, c.servers))
        throw notGrantable(`servers: cannot exceed the servers of the credential making this request (${c.servers.join(', ')})`);
    }
  }
}
