import { type Store } from '../store/index.js';
import { now } from '../lib/time.js';

/**
 * API-token usage counters, accumulated in memory and written in one batch
 * every few seconds (and at shutdown), so the hot path never writes to the store.
 */
export class UsageRecorder {
  private pending = new Map<string, { count: number; lastUsedMs: number; servers: Map<string, number> }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly intervalMs = 2_000,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(tokenId: string, server: string | null): void {
    let u = this.pending.get(tokenId);
    if (!u) {
      u = { count: 0, lastUsedMs: 0, servers: new Map() };
      this.pending.set(tokenId, u);
    }
    u.count++;
    u.lastUsedMs = now(); // formatted once per flush, not per request
    if (server) u.servers.set(server, (u.servers.get(server) ?? 0) + 1);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const rows = new Map([...batch].map(([id, u]) => [id, { count: u.count, lastUsedAt: new Date(u.lastUsedMs).toISOString(), servers: u.servers }]));
    try {
      await this.store.apiTokens.addUsage(rows);
    } catch (e) {
      this.onError(e);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
