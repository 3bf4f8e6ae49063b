import { type Logger } from '../lib/logger.js';
import { PeriodicJob } from '../lib/periodic.js';
import { now } from '../lib/time.js';
import { type Store } from '../store/index.js';
import { type IdentityCache } from './identity-cache.js';
import { CLOCK_TOLERANCE_S } from './signing.js';

export const SESSION_PRUNE_INTERVAL_MS = 3_600_000;

type Pruned = { tokens: number; families: number };

/**
 * Login-session retention: once at start and then every hour, deletes
 * refresh tokens past their expiry and forgets revoked refresh families once
 * nothing of theirs can be presented any more (their last refresh token has
 * expired, and so, one access-token lifetime later, has every access token
 * issued with it), in the store and in this process's memory. Every replica
 * prunes; the deletes are idempotent.
 */
export class SessionRetention {
  private readonly job: PeriodicJob<Pruned>;

  constructor(
    private readonly store: Store,
    private readonly cache: IdentityCache,
    private readonly accessTokenTtlMs: number,
    private readonly logger: Logger,
    intervalMs = SESSION_PRUNE_INTERVAL_MS,
  ) {
    this.job = new PeriodicJob(() => this.prune(), { tokens: 0, families: 0 }, (err) => logger.error({ err }, 'login session pruning failed'), intervalMs);
  }

  /** The prune started by start(), for callers that want to wait for it. */
  get initial(): Promise<Pruned> {
    return this.job.initial;
  }

  start(): void {
    this.job.start();
  }

  /** Prune now; never throws (failures are logged). */
  pruneNow(): Promise<Pruned> {
    return this.job.runNow();
  }

  close(): Promise<void> {
    return this.job.close();
  }

  private async prune(): Promise<Pruned> {
    const t = now();
    this.cache.pruneRevokedFamilies(t);
    const tokens = await this.store.refreshTokens.pruneExpired(new Date(t).toISOString());
    const familiesBefore = new Date(t - this.accessTokenTtlMs - CLOCK_TOLERANCE_S * 1000).toISOString();
    const families = await this.store.refreshTokens.pruneRevokedFamilies(familiesBefore);
    if (tokens > 0 || families > 0) this.logger.info({ refresh_tokens: tokens, revoked_families: families }, 'expired login sessions pruned');
    return { tokens, families };
  }
}
