import { type Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { type Bus } from '../lib/bus.js';
import { randomToken, sha256Hex, uuid } from '../lib/crypto.js';
import { now } from '../lib/time.js';
import { UniqueViolation, type Store, type UserRecord } from '../store/index.js';
import { invalidToken, principalDisabled, tokenExpired } from './errors.js';
import { UnknownLoginActors, type AuditActor } from './login-actor.js';
import { type LoginThrottle } from './login-throttle.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { type Principal } from './principal.js';
import { type Signer } from './signing.js';

export const REFRESH_TOKEN_PREFIX = 'pcr_';

export interface PublicUser {
  id: string;
  email: string;
  username: string | null;
  name: string | null;
  role: string;
  groups: string[];
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export const publicUser = (u: UserRecord): PublicUser => ({
  id: u.id,
  email: u.email,
  username: u.username,
  name: u.name,
  role: u.role,
  groups: u.groups,
  disabled: u.disabled,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
});

/** A refused login, carrying who the audit names for it (an account's id, never unknown input as typed). */
export class LoginRefused extends GatewayError {
  constructor(
    readonly who: AuditActor,
    e: GatewayError,
  ) {
    super(e.code, { detail: e.detail, internal: e.internal, headers: e.headers, status: e.status });
  }
}

/** The audit actor for an error from SessionService.login: the account's id, a keyed hash, or `unknown`. */
export const refusedLoginActor = (e: unknown): AuditActor => (e instanceof LoginRefused ? e.who : { actor: 'unknown', actorType: 'anonymous' });

export interface TokenPair {
  user: PublicUser;
  token: string;
  refresh_token: string;
  expires_at: string;
}

/**
 * Human sessions: register, login, refresh (rotating, with reuse detection),
 * logout and password change. Plain values in and out; no HTTP here.
 */
export class SessionService {
  private readonly unknownLogins: UnknownLoginActors;

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly signer: Signer,
    private readonly bus: Bus,
    private readonly throttle: LoginThrottle,
    private readonly issuer: string,
    private readonly audience: string,
  ) {
    this.unknownLogins = new UnknownLoginActors(store.settings);
  }

  async register(input: { email: string; password: string; name?: string; username?: string }): Promise<TokenPair> {
    const mode = this.config.auth.registration;
    if (mode === 'closed') throw new GatewayError('registration_closed', { detail: 'Registration is closed' });
    if (mode === 'first-user-only' && (await this.store.users.count()) > 0)
      throw new GatewayError('registration_closed', { detail: 'Registration is closed: an admin already exists' });
    const passwordHash = await hashPassword(input.password);
    let user: UserRecord;
    try {
      user = await this.store.users.create(
        { email: input.email, username: input.username ?? null, name: input.name ?? null, passwordHash },
        { firstBecomesAdmin: true },
      );
    } catch (e) {
      if (e instanceof UniqueViolation) throw new GatewayError('conflict', { detail: `A user with that ${e.field} already exists` });
      throw e;
    }
    if (mode === 'first-user-only' && user.role !== 'admin') {
      // Lost a concurrent race for the first seat: undo.
      await this.store.users.delete(user.id);
      throw new GatewayError('registration_closed', { detail: 'Registration is closed: an admin already exists' });
    }
    return this.issue(user, uuid());
  }

  /**
   * Log in by email or username. Every refusal is a LoginRefused naming the
   * account's id, or for a name that matches no account its keyed hash
   * (login-actor.ts): the input as typed is neither audited nor used as a
   * throttle key (with Redis, throttle keys are stored).
   */
  async login(input: { login: string; password: string; ip: string }): Promise<TokenPair> {
    return this.issue(await this.checkPassword(input), uuid());
  }

  /**
   * Verify an email/username and password, throttled per account and per IP
   * (the API login and the /login page share the budgets): the user, or 401
   * `invalid_credentials` (unknown user and wrong password alike) or 429.
   */
  async checkPassword(input: { login: string; password: string; ip: string }): Promise<UserRecord> {
    if (!this.config.auth.password_login) throw new GatewayError('password_login_disabled', { detail: 'Sign-in with email and password is turned off' });
    const user = await this.store.users.byLogin(input.login);
    const who: AuditActor = user ? { actor: user.id, actorType: 'user' } : await this.unknownLogins.of(input.login.toLowerCase());
    // One budget per account whichever name (email or username) is typed; unknown names get their own.
    const account = user ? `user:${user.id}` : `login:${who.actor}`;
    try {
      await this.throttle.check(account, input.ip);
      const ok = await verifyPassword(user?.passwordHash, input.password);
      if (!user || !ok || user.disabled) {
        await this.throttle.failure(account, input.ip);
        throw new GatewayError('invalid_credentials', { detail: 'Invalid email/username or password' });
      }
    } catch (e) {
      throw e instanceof GatewayError ? new LoginRefused(who, e) : e;
    }
    await this.throttle.success(account);
    return user;
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    if (!refreshToken.startsWith(REFRESH_TOKEN_PREFIX) || refreshToken.length > 256) throw invalidToken('The refresh token is invalid');
    const rec = await this.store.refreshTokens.byHash(sha256Hex(refreshToken));
    if (!rec || rec.revokedAt) throw invalidToken('The refresh token is invalid or revoked');
    if (!rec.usedAt && Date.parse(rec.expiresAt) <= now()) throw tokenExpired();
    if (rec.usedAt || !(await this.store.refreshTokens.markUsed(rec.id))) {
      await this.revokeFamily(rec.familyId);
      throw new GatewayError('refresh_token_reused', { detail: 'The refresh token was already used; the session has been revoked' });
    }
    const user = await this.store.users.byId(rec.userId);
    if (!user || user.disabled) throw principalDisabled();
    const pair = await this.issue(user, rec.familyId);
    // A revocation of the family racing this refresh has either recorded the
    // family by now, or marks the token just issued (RefreshTokenStore.revokeFamily).
    if (await this.store.refreshTokens.isFamilyRevoked(rec.familyId)) {
      await this.revokeFamily(rec.familyId);
      throw invalidToken('The session has been revoked');
    }
    return pair;
  }

  /** Revoke the caller's session family (its access and refresh tokens). */
  async logout(p: Principal): Promise<void> {
    if (p.sessionFamily) await this.revokeFamily(p.sessionFamily);
  }

  async changePassword(p: Principal, current: string, next: string): Promise<void> {
    if (p.type !== 'user') throw new GatewayError('forbidden', { detail: 'Only users have passwords' });
    const user = await this.store.users.byId(p.id);
    if (!user) throw principalDisabled();
    if (!(await verifyPassword(user.passwordHash, current))) throw new GatewayError('invalid_credentials', { detail: 'The current password is wrong' });
    await this.store.users.update(user.id, { passwordHash: await hashPassword(next) });
    const revoked = await this.store.refreshTokens.revokeUserFamilies(user.id, p.sessionFamily ?? undefined);
    for (const f of revoked) this.bus.publish({ kind: 'family', id: f });
  }

  /** Revoke every login session of a user (disable, delete, admin action). */
  async revokeAllSessions(userId: string): Promise<void> {
    const revoked = await this.store.refreshTokens.revokeUserFamilies(userId);
    for (const f of revoked) this.bus.publish({ kind: 'family', id: f });
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.store.refreshTokens.revokeFamily(familyId);
    this.bus.publish({ kind: 'family', id: familyId });
  }

  private async issue(user: UserRecord, familyId: string): Promise<TokenPair> {
    const nowMs = now();
    const ttl = this.config.auth.access_token_ttl;
    const token = await this.signer.sign(
      { pct: 'user', email: user.email, role: user.role, groups: user.groups, sid: familyId },
      { issuer: this.issuer, audience: this.audience, subject: user.id, jti: uuid(), ttlMs: ttl, nowMs },
    );
    const refresh = REFRESH_TOKEN_PREFIX + randomToken(32);
    await this.store.refreshTokens.insert({
      id: uuid(),
      familyId,
      userId: user.id,
      tokenHash: sha256Hex(refresh),
      expiresAt: new Date(nowMs + this.config.auth.refresh_token_ttl).toISOString(),
    });
    return { user: publicUser(user), token, refresh_token: refresh, expires_at: new Date(nowMs + ttl).toISOString() };
  }
}
