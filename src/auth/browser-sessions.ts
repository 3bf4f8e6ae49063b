/**
 * Browser sign-in sessions (SPEC §11): an opaque cookie of 256 random bits,
 * stored only as its SHA-256 digest, with an idle timeout and an absolute
 * lifetime. Accepted by the sign-in and consent pages, /oauth/authorize and
 * /api/v1 (state-changing calls also need the CSRF token) — never at /mcp.
 *
 * Every check reads the store (these are page and console requests, not the
 * MCP hot path), so a session ended on one replica is refused by all of them
 * at once; the user behind it is read through the identity cache, so disabling
 * or deleting the user ends it everywhere on the next request too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomToken, sha256B64u } from '../lib/crypto.js';
import { now } from '../lib/time.js';
import { type Store, type UserRecord } from '../store/index.js';
import { type IdentityCache } from './identity-cache.js';
import { type Principal } from './principal.js';

/** Over https: a `__Host-` cookie (Secure, Path=/, no Domain: bound to this exact origin). */
export const SECURE_SESSION_COOKIE = '__Host-portcullis_session';
/** On plain-http loopback (development): browsers refuse `__Host-` and Secure cookies there. */
export const PLAIN_SESSION_COOKIE = 'portcullis_session';

/** A session's last-seen time is written at most this often (idle timeout resolution). */
const TOUCH_EVERY_MS = 60_000;
/** Cookie values are 32 random bytes in base64url. */
const COOKIE_VALUE_RE = /^[A-Za-z0-9_-]{43}$/;

export interface BrowserSessionOptions {
  idleTimeoutMs: number;
  maxAgeMs: number;
  /** The gateway's public URL is https: Secure `__Host-` cookie. */
  secure: boolean;
}

export interface ResolvedSession {
  /** The stored id (digest of the cookie). */
  id: string;
  user: UserRecord;
  expiresAt: number;
}

/** Ended sessions are deleted this often. */
const HOUSEKEEPING_MS = 10 * 60_000;

export class BrowserSessions {
  readonly cookieName: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly cache: IdentityCache,
    /** HMAC key the CSRF tokens are derived with (shared by every replica). */
    private readonly csrfKey: Buffer,
    readonly options: BrowserSessionOptions,
  ) {
    this.cookieName = options.secure ? SECURE_SESSION_COOKIE : PLAIN_SESSION_COOKIE;
  }

  /** Start a session for a signed-in user; the cookie value is returned once and never stored. */
  async start(userId: string): Promise<{ cookieValue: string; id: string; expiresAt: number }> {
    const cookieValue = randomToken(32);
    const id = sha256B64u(cookieValue);
    const expiresAt = now() + this.options.maxAgeMs;
    await this.store.browserSessions.create({ id, userId, expiresAt: new Date(expiresAt).toISOString() });
    return { cookieValue, id, expiresAt };
  }

  /** The live session behind a cookie value, or null (unknown, ended, idle, expired, user disabled or gone). */
  async resolve(cookieValue: string | undefined): Promise<ResolvedSession | null> {
    if (!cookieValue || !COOKIE_VALUE_RE.test(cookieValue)) return null;
    const id = sha256B64u(cookieValue);
    const rec = await this.store.browserSessions.get(id);
    if (!rec) return null;
    const t = now();
    const expiresAt = Date.parse(rec.expiresAt);
    const lastSeen = Date.parse(rec.lastSeenAt);
    if (expiresAt <= t || lastSeen + this.options.idleTimeoutMs <= t) {
      await this.store.browserSessions.delete(id);
      return null;
    }
    const user = await this.cache.user(rec.userId);
    if (!user || user.disabled) {
      await this.store.browserSessions.delete(id);
      return null;
    }
    if (t - lastSeen >= TOUCH_EVERY_MS) await this.store.browserSessions.touch(id, new Date(t).toISOString());
    return { id, user, expiresAt };
  }

  /** The CSRF token of a session: HMAC of its id, so it is never stored and cannot be derived without the key. */
  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.csrfKey).update(`csrf:${sessionId}`).digest('base64url');
  }

  verifyCsrf(sessionId: string, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented.length !== 43) return false;
    return timingSafeEqual(Buffer.from(this.csrfToken(sessionId)), Buffer.from(presented));
  }

  async end(sessionId: string): Promise<void> {
    await this.store.browserSessions.delete(sessionId);
  }

  /** End every session of a user (password change), except `keep`. */
  async endAllForUser(userId: string, keep?: string): Promise<number> {
    return this.store.browserSessions.deleteForUser(userId, keep);
  }

  /** Delete sessions past their lifetime (housekeeping). */
  async purge(): Promise<number> {
    return this.store.browserSessions.purge(new Date(now() - this.options.idleTimeoutMs).toISOString());
  }

  /** Purge periodically (an unref'd timer); failures are reported and retried next time. */
  startHousekeeping(onError: (e: unknown) => void): void {
    this.timer ??= setInterval(() => void this.purge().catch(onError), HOUSEKEEPING_MS);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The principal of a resolved session: the user with all of their rights (no scope restriction). */
  principal(s: ResolvedSession): Principal {
    const u = s.user;
    return {
      type: 'user', id: u.id, email: u.email, username: u.username, role: u.role, groups: u.groups,
      method: 'browser_session', provider: null, tokenId: s.id, sessionFamily: null, scopes: null, servers: null,
      rateLimitPerHour: null, expiresAt: s.expiresAt,
    };
  }
}
