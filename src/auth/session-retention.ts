import { type Logger } from '../lib/logger.js';
import { now } from '../lib/time.js';
import { type Store } from '../store/index.js';
import { type IdentityCache } from './identity-cache.js';
import { CLOCK_TOLERANCE_S } from './signing.js';

export const SESSION_PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Login-session retention: once at start and then every hour, deletes
 * refresh tokens past their expiry and forgets revoked refresh families once
 * nothing of theirs can be presented any more (their last refresh token has
 * expired, and so, one access-token lifetime later, has every access token
 * issued with it), in the store and in this process's memory. Timers are
 * unref'd. Every replica prunes; the deletes are idempotent.
 */
export class SessionRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<{ tokens: number; families: number }> | null = null;
  /** The prune started by start(), for callers that want to wait for it. */
  initial: Promise<{ tokens: number; families: number }> = Promise.resolve({ tokens: 0, families: 0 });

  constructor(
    private readonly store: Store,
    private readonly cache: IdentityCache,
    private readonly accessTokenTtlMs: number,
    private readonly logger: Logger,
    private readonly intervalMs = SESSION_PRUNE_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.initial = this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Prune now; never throws (failures are logged). */
  pruneNow(): Promise<{ tokens: number; families: number }> {
    this.running ??= (async () => {
      try {
        const t = now();
        this.cache.pruneRevokedFamilies(t);
        const tokens = await this.store.refreshTokens.pruneExpired(new Date(t).toISOString());
        const familiesBefore = new Date(t - this.accessTokenTtlMs - CLOCK_TOLERANCE_S * 1000).toISOString();
        const families = await this.store.refreshTokens.pruneRevokedFamilies(familiesBefore);
        if (tokens > 0 || families > 0) this.logger.info({ refresh_tokens: tokens, revoked_families: families }, 'expired login sessions pruned');
        return { tokens, families };
      } catch (err) {
        this.logger.error({ err }, 'login session pruning failed');
        return { tokens: 0, families: 0 };
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
