/**
 * Service accounts (machine principals, seed term "M2M"): administration
 * (create, list, update groups, delete, rotate the secret), client
 * authentication for the `client_credentials` grant, and the hot-path lookup
 * the Authenticator uses on every request carrying a service-account token.
 *
 * - client_id: `sa_` + 24 hex chars (96 random bits), public.
 * - client_secret: `pcs_` + 43 base64url chars (256 random bits), shown once,
 *   stored only as an argon2id hash. argon2 runs only at the token endpoint,
 *   never per request: the access tokens it issues are short-lived JWTs.
 * - Rights: role `user` plus the account's *current* groups, resolved on every
 *   request through a cache that a `service_account` bus event clears, so a
 *   deletion or a group change applies to the very next request.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { groupName } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { type Bus } from '../lib/bus.js';
import { randomToken, uuid } from '../lib/crypto.js';
import { LruCache } from '../lib/lru.js';
import { serviceAccountPrincipalId } from '../lib/principal-id.js';
import { now } from '../lib/time.js';
import { type ServiceAccountRecord, type Store } from '../store/index.js';
import { auditActor, type Caller } from './admin.js';
import { type AuditSink } from '../audit/types.js';
import { type ServiceAccountLookup } from './authenticate.js';
import { UnknownLoginActors, type AuditActor } from './login-actor.js';
import { type LoginThrottle } from './login-throttle.js';
import { OAuthError } from './oauth-error.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { expandScopes, type Scope } from './principal.js';
import { type Signer } from './signing.js';

export const CLIENT_ID_PREFIX = 'sa_';
export const CLIENT_SECRET_PREFIX = 'pcs_';
const CLIENT_ID_RE = /^sa_[0-9a-f]{24}$/;
/** Longest secret we bother hashing; ours are 47 chars. */
const MAX_SECRET_LENGTH = 256;

/** Scopes a service account may ask for; `admin` is never granted to one. */
export const SERVICE_ACCOUNT_SCOPES: readonly Scope[] = ['mcp:read', 'mcp:execute', 'api:read', 'api:write'];

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, _ . - (starting with a letter or digit)');
const groups = z.array(groupName()).max(256);
const description = z.string().max(1000);

export const createServiceAccountSchema = z.strictObject({ name, groups: groups.default([]), description: description.optional() });
export type CreateServiceAccountInput = z.output<typeof createServiceAccountSchema>;
export const updateServiceAccountSchema = z.strictObject({ groups: groups.optional(), description: description.optional() });
export type UpdateServiceAccountInput = z.output<typeof updateServiceAccountSchema>;

export interface PublicServiceAccount {
  client_id: string;
  name: string;
  description: string;
  groups: string[];
  created_at: string;
  updated_at: string;
}

export const publicServiceAccount = (a: ServiceAccountRecord): PublicServiceAccount => ({
  client_id: a.clientId,
  name: a.name,
  description: a.description,
  groups: a.groups,
  created_at: a.createdAt,
  updated_at: a.updatedAt,
});

export const newClientId = (): string => CLIENT_ID_PREFIX + randomBytes(12).toString('hex');
export const newClientSecret = (): string => CLIENT_SECRET_PREFIX + randomToken(32);
export const isClientId = (s: string): boolean => CLIENT_ID_RE.test(s);

const notFound = () => new GatewayError('not_found', { detail: 'No such service account' });
const dedupe = (a: readonly string[]): string[] => [...new Set(a)];

export interface ServiceAccountDeps {
  store: Store;
  bus: Bus;
  audit: AuditSink;
}

/** Administration: plain values in and out; the HTTP routes and the CLI both call this. */
export class ServiceAccountService {
  constructor(private readonly deps: ServiceAccountDeps) {}

  async list(): Promise<PublicServiceAccount[]> {
    return (await this.deps.store.serviceAccounts.list()).map(publicServiceAccount);
  }

  async get(ref: string): Promise<PublicServiceAccount> {
    return publicServiceAccount(await this.resolve(ref));
  }

  /** By client_id, or by name (the CLI accepts either). */
  async resolve(ref: string): Promise<ServiceAccountRecord> {
    const a = isClientId(ref) ? await this.deps.store.serviceAccounts.byClientId(ref) : await this.deps.store.serviceAccounts.byName(ref);
    if (!a) throw notFound();
    return a;
  }

  async create(c: Caller, input: CreateServiceAccountInput): Promise<{ account: PublicServiceAccount; clientSecret: string }> {
    const clientSecret = newClientSecret();
    const r = await this.deps.store.serviceAccounts.create({
      clientId: newClientId(),
      name: input.name,
      description: input.description ?? '',
      secretHash: await hashPassword(clientSecret),
      groups: dedupe(input.groups),
    });
    if (r === 'conflict') throw new GatewayError('conflict', { detail: `A service account named ${input.name} already exists` });
    this.deps.audit.record({ action: 'service_account.create', ...auditActor(c), status: 201, detail: { client_id: r.clientId, name: r.name, groups: r.groups } });
    return { account: publicServiceAccount(r), clientSecret };
  }

  async update(c: Caller, ref: string, input: UpdateServiceAccountInput): Promise<PublicServiceAccount> {
    const before = await this.resolve(ref);
    const patch: { groups?: string[]; description?: string } = {};
    if (input.groups !== undefined) patch.groups = dedupe(input.groups);
    if (input.description !== undefined) patch.description = input.description;
    const r = await this.deps.store.serviceAccounts.update(before.clientId, patch);
    if (!r) throw notFound();
    this.deps.bus.publish({ kind: 'service_account', id: r.clientId });
    const changed: Record<string, unknown> = {};
    if (patch.groups !== undefined) changed.groups = { from: before.groups, to: r.groups };
    if (patch.description !== undefined) changed.description = true;
    this.deps.audit.record({ action: 'service_account.update', ...auditActor(c), status: 200, detail: { client_id: r.clientId, changed } });
    return publicServiceAccount(r);
  }

  /** Delete the account: its access tokens and API tokens stop working on the next request. */
  async delete(c: Caller, ref: string): Promise<void> {
    const a = await this.resolve(ref);
    const tokens = await this.deps.store.apiTokens.list(a.clientId);
    const principalId = serviceAccountPrincipalId(a.clientId);
    const credentialServers = await this.deps.store.credentials.serversOf(principalId);
    if (!(await this.deps.store.serviceAccounts.delete(a.clientId))) throw notFound();
    this.deps.bus.publish({ kind: 'service_account', id: a.clientId });
    // The store deleted the account's stored upstream credentials too; drop their cached copies.
    for (const server of credentialServers) this.deps.bus.publish({ kind: 'credentials', principal: principalId, server });
    for (const t of tokens) this.deps.bus.publish({ kind: 'token', hash: t.tokenHash });
    this.deps.audit.record({ action: 'service_account.delete', ...auditActor(c), status: 204, detail: { client_id: a.clientId, name: a.name, revoked_tokens: tokens.length } });
  }

  /** A new secret; the old one stops working at once. Access tokens already issued run out on their own (auth.access_token_ttl). */
  async rotateSecret(c: Caller, ref: string): Promise<{ account: PublicServiceAccount; clientSecret: string }> {
    const a = await this.resolve(ref);
    const clientSecret = newClientSecret();
    const r = await this.deps.store.serviceAccounts.setSecretHash(a.clientId, await hashPassword(clientSecret));
    if (!r) throw notFound();
    this.deps.audit.record({ action: 'service_account.rotate', ...auditActor(c), status: 200, detail: { client_id: r.clientId, name: r.name } });
    return { account: publicServiceAccount(r), clientSecret };
  }
}

/**
 * The Authenticator's view of service accounts: client_id → name and current
 * groups. Entries are dropped on a `service_account` (or `flush`) event; a
 * short TTL bounds staleness for changes made where no event reaches this
 * process (the CLI against a running gateway without a shared bus).
 */
export class ServiceAccountDirectory implements ServiceAccountLookup {
  private readonly cache = new LruCache<string, { clientId: string; name: string; groups: string[] } | null>(50_000);
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    bus: Bus,
    private readonly ttlMs = 30_000,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'service_account') this.cache.delete(e.id);
      else if (e.kind === 'flush') this.cache.clear();
    });
  }

  async get(clientId: string): Promise<{ clientId: string; name: string; groups: string[] } | undefined> {
    const t = now();
    const hit = this.cache.get(clientId, t);
    if (hit !== undefined) return hit ?? undefined;
    const a = await this.store.serviceAccounts.byClientId(clientId);
    const v = a ? { clientId: a.clientId, name: a.name, groups: a.groups } : null;
    this.cache.set(clientId, v, t + this.ttlMs);
    return v ?? undefined;
  }

  close(): void {
    this.unsubscribe();
  }
}

export interface ClientCredentialsRequest {
  clientId: string;
  clientSecret: string;
  /** Raw `scope` parameter (space-delimited), if sent. */
  scope: string | undefined;
  ip: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/**
 * The `client_credentials` grant (RFC 6749 §4.4): authenticate the client
 * with argon2id (failures throttled per client_id and per IP like logins),
 * check the requested scopes, and issue the gateway's own short-lived
 * access JWT (`pct: "sa"`, `sub` = client_id, RFC 9068 claims).
 */
export class ClientCredentialsGrant {
  private readonly unknownClients: UnknownLoginActors;

  constructor(
    private readonly store: Store,
    private readonly signer: Signer,
    private readonly throttle: LoginThrottle,
    private readonly opts: { issuer: string; audience: string; ttlMs: number },
  ) {
    this.unknownClients = new UnknownLoginActors(store.settings);
  }

  /**
   * Who a refused token request is audited as: the service account's id when
   * the client_id is one, else the keyed hash of what was sent (login-actor.ts),
   * never the client_id as typed. Never rejects.
   */
  async refusedActor(clientId: string): Promise<AuditActor> {
    try {
      const account = isClientId(clientId) ? await this.store.serviceAccounts.byClientId(clientId) : undefined;
      return account ? { actor: serviceAccountPrincipalId(account.clientId), actorType: 'service_account' } : await this.unknownClients.of(clientId);
    } catch {
      return { actor: 'unknown', actorType: 'anonymous' };
    }
  }

  async issue(req: ClientCredentialsRequest): Promise<{ account: ServiceAccountRecord; response: TokenResponse }> {
    const scopes = parseRequestedScopes(req.scope);
    // Counted in the throttle's own namespace (not login's); anything that is not a client_id is counted under its keyed hash.
    const throttleKey = isClientId(req.clientId) ? req.clientId : (await this.unknownClients.of(req.clientId)).actor;
    try {
      await this.throttle.check(throttleKey, req.ip);
    } catch (e) {
      const retry = e instanceof GatewayError ? e.headers['Retry-After'] : undefined;
      throw new OAuthError('temporarily_unavailable', 'Too many failed client authentications; try again later', 429, retry ? { 'Retry-After': retry } : {});
    }
    const wellFormed = isClientId(req.clientId) && req.clientSecret.length <= MAX_SECRET_LENGTH;
    const account = wellFormed ? await this.store.serviceAccounts.byClientId(req.clientId) : undefined;
    // Unknown clients still cost one argon2 verification (same timing as a wrong secret).
    const ok = await verifyPassword(account?.secretHash, req.clientSecret.slice(0, MAX_SECRET_LENGTH));
    if (!account || !ok) {
      await this.throttle.failure(throttleKey, req.ip);
      throw new OAuthError('invalid_client', 'Client authentication failed', 401);
    }
    await this.throttle.success(throttleKey);

    const nowMs = now();
    const access = await this.signer.sign(
      { pct: 'sa', client_id: account.clientId, role: 'user', groups: account.groups, scope: scopes.join(' '), scope_list: scopes },
      { issuer: this.opts.issuer, audience: this.opts.audience, subject: account.clientId, jti: uuid(), ttlMs: this.opts.ttlMs, nowMs },
    );
    return {
      account,
      response: { access_token: access, token_type: 'Bearer', expires_in: Math.max(1, Math.floor(this.opts.ttlMs / 1000)), scope: scopes.join(' ') },
    };
  }
}

/**
 * The granted scopes for a `scope` parameter: absent (or empty) means every
 * scope a service account can hold; otherwise each must be one of
 * SERVICE_ACCOUNT_SCOPES (`invalid_scope` names the first that is not).
 * Implied scopes are added (mcp:execute → mcp:read, api:write → api:read).
 */
export function parseRequestedScopes(scope: string | undefined): Scope[] {
  const requested = (scope ?? '').split(' ').filter(Boolean);
  if (requested.length === 0) return [...SERVICE_ACCOUNT_SCOPES];
  for (const s of requested) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw new OAuthError('invalid_scope', 'The scope parameter is malformed');
    if (!(SERVICE_ACCOUNT_SCOPES as readonly string[]).includes(s))
      throw new OAuthError('invalid_scope', `Scope ${s} is not available to service accounts (allowed: ${SERVICE_ACCOUNT_SCOPES.join(' ')})`);
  }
  const expanded = expandScopes(requested as Scope[]);
  return SERVICE_ACCOUNT_SCOPES.filter((s) => expanded.includes(s));
}
