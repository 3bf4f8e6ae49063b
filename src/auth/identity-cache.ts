import { type Bus } from '../lib/bus.js';
import { LruCache } from '../lib/lru.js';
import { now } from '../lib/time.js';
import { type ApiTokenRecord, type GroupRecord, type Store, type UserRecord } from '../store/index.js';

/** How long past the access-token lifetime a revoked family is remembered (clock skew, revocations in flight). */
export const REVOKED_FAMILY_MARGIN_MS = 60_000;

/**
 * Hot-path caches for everything authentication and authorization read per
 * request: users by id, API tokens by hash, revoked session families, groups.
 * Every entry is dropped on the matching invalidation event, so a change made
 * on any replica applies to the very next request.
 */
export class IdentityCache {
  private readonly users = new LruCache<string, UserRecord | null>(100_000);
  private tokens = new LruCache<string, ApiTokenRecord | null>(100_000);
  /**
   * Revoked login-session families whose access tokens may still be live: id
   * → when this process learned of the revocation (ms). Insertion order is
   * time order, so expired entries are dropped from the front.
   */
  private readonly revokedFamilies = new Map<string, number>();
  private groups = new Map<string, GroupRecord>();
  /** The latest group load (null: none yet, or the latest failed). */
  private groupsLoaded: Promise<void> | null = null;
  /** `groups` holds the latest load's result (no reload in flight). */
  private groupsFresh = false;
  private accessTokenTtlMs: number | null = null;
  private readonly unsubscribe: () => void;

  private readonly cacheTokens: boolean;

  constructor(
    private readonly store: Store,
    bus: Bus,
    opts: { tokenCacheSize?: number } = {},
  ) {
    this.cacheTokens = opts.tokenCacheSize !== 0;
    if (opts.tokenCacheSize) this.tokens = new LruCache(opts.tokenCacheSize);
    this.unsubscribe = bus.subscribe((e) => {
      switch (e.kind) {
        case 'user':
          this.users.delete(e.id);
          break;
        case 'token':
          this.tokens.delete(e.hash);
          break;
        case 'family':
          this.addRevokedFamily(e.id);
          break;
        case 'groups':
          // Reload at once; groupMap() awaits the reload, so no request sees stale grants.
          void this.reloadGroups(); // its failure is handled inside (the next groupMap() retries)
          break;
        case 'flush':
          // This replica may have missed events: forget everything, reload what must be complete.
          this.users.clear();
          this.tokens.clear();
          void this.reloadGroups(); // its failure is handled inside (the next groupMap() retries)
          if (this.accessTokenTtlMs !== null) void this.loadRevokedFamilies(this.accessTokenTtlMs).catch(() => undefined);
          break;
      }
    });
  }

  /** Load state that must be complete before serving (revoked families, groups). */
  async warm(accessTokenTtlMs: number): Promise<void> {
    this.accessTokenTtlMs = accessTokenTtlMs;
    await this.loadRevokedFamilies(accessTokenTtlMs);
    await this.reloadGroups();
  }

  /** Families revoked recently enough that one of their access tokens may still be live. */
  private async loadRevokedFamilies(accessTokenTtlMs: number): Promise<void> {
    const since = new Date(now() - accessTokenTtlMs - REVOKED_FAMILY_MARGIN_MS).toISOString();
    // Each is kept a full lifetime from now (they were revoked at `since` or later).
    for (const f of await this.store.refreshTokens.familiesRevokedSince(since)) this.addRevokedFamily(f);
  }

  private addRevokedFamily(id: string): void {
    const t = now();
    this.revokedFamilies.delete(id); // re-added at the end, keeping the map in time order
    this.revokedFamilies.set(id, t);
    this.pruneRevokedFamilies(t);
  }

  /**
   * Forget revoked families none of whose access tokens can still be live:
   * learned of more than the access-token lifetime (plus a margin) ago. Runs
   * on every revocation and from the periodic pruning; until warm() gives the
   * lifetime, nothing is forgotten.
   */
  pruneRevokedFamilies(nowMs = now()): number {
    if (this.accessTokenTtlMs === null) return 0;
    const cutoff = nowMs - this.accessTokenTtlMs - REVOKED_FAMILY_MARGIN_MS;
    let n = 0;
    for (const [id, at] of this.revokedFamilies) {
      if (at >= cutoff) break;
      this.revokedFamilies.delete(id);
      n++;
    }
    return n;
  }

  /** How many revoked families are held in memory. */
  get revokedFamilyCount(): number {
    return this.revokedFamilies.size;
  }

  async user(id: string): Promise<UserRecord | undefined> {
    const hit = this.users.get(id);
    if (hit !== undefined) return hit ?? undefined;
    const u = await this.store.users.byId(id);
    this.users.set(id, u ?? null);
    return u;
  }

  async apiToken(hash: string): Promise<ApiTokenRecord | undefined> {
    const hit = this.tokens.get(hash);
    if (hit !== undefined) return hit ?? undefined;
    const t = await this.store.apiTokens.byHash(hash);
    if (this.cacheTokens) this.tokens.set(hash, t ?? null);
    return t;
  }

  isFamilyRevoked(id: string): boolean {
    return this.revokedFamilies.has(id);
  }

  /** Groups by name; loaded once and reloaded after a `groups` event. */
  async groupMap(): Promise<ReadonlyMap<string, GroupRecord>> {
    // A reload superseded while awaited leaves groupsFresh false: wait for the newer one.
    while (!this.groupsFresh) await (this.groupsLoaded ?? this.reloadGroups());
    return this.groups;
  }

  /** Start a load; only the latest load's result is kept, so an older read finishing last cannot win. */
  private reloadGroups(): Promise<void> {
    const p: Promise<void> = this.store.groups.list().then((list) => {
      if (this.groupsLoaded !== p) return;
      this.groups = new Map(list.map((g) => [g.name, g]));
      this.groupsFresh = true;
    });
    this.groupsLoaded = p;
    this.groupsFresh = false;
    p.catch(() => {
      if (this.groupsLoaded === p) this.groupsLoaded = null;
    });
    return p;
  }

  close(): void {
    this.unsubscribe();
  }
}
