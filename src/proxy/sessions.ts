/**
 * MCP sessions bound to principals. The gateway mints its own session ids
 * (what clients see as Mcp-Session-Id) and maps them to the upstream's id or
 * to a channel-backed session (legacy SSE, stdio). The binding is written to
 * the store once, at creation, so any replica can check ownership; lookups
 * are served from memory when warm. Ending a session publishes
 * {kind:'session', id} so every replica forgets it.
 */
import { isStdio, type ServerDef } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { type Bus } from '../lib/bus.js';
import { randomToken } from '../lib/crypto.js';
import { LruCache } from '../lib/lru.js';
import { type Store } from '../store/index.js';
import { DEFAULT_LIMITS, tooManySessions } from './principal-caps.js';
import { type ServerRegistry } from './registry.js';
import { LEGACY_SSE_IDLE_TIMEOUT_MS } from './server-view.js';
import { type UpstreamManager } from './upstream-manager.js';
import { type VirtualSession } from './upstreams/virtual-session.js';

export interface McpSession {
  id: string;
  server: string;
  principalId: string;
  upstreamSessionId: string | null;
  /** Channel-backed session (legacy SSE or stdio upstream) held by this replica. */
  virtual: VirtualSession | null;
  /** The key of this session's upstream request ids (upstream-ids.ts), derived once when first needed. */
  idKey?: string;
}

export interface SessionLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const SWEEP_MS = 1_000;
/** A session row unused this long is deleted (the upstream has long forgotten it too); clients re-initialize. */
export const SESSION_RETENTION_MS = 24 * 3_600_000;
const PRUNE_EVERY_MS = 3_600_000;
/**
 * For `limits.per_principal.sessions`, a session counts as open from its
 * creation until it is ended or has gone unused this long (a client that
 * never sends DELETE does not lock its principal out for the whole retention).
 */
export const OPEN_SESSION_WINDOW_MS = 3_600_000;

/** A channel-backed session (stdio, legacy SSE) reached a replica that does not hold it. */
const wrongReplica = () =>
  new GatewayError('session_not_found', {
    detail:
      'This session is held by another gateway replica (its stdio or legacy SSE upstream runs there). ' +
      'Route requests carrying Mcp-Session-Id to the replica that created the session (sticky sessions), or start a new session.',
  });

export class SessionManager {
  /** Streamable HTTP sessions: a cache over the store. */
  private readonly remote = new LruCache<string, McpSession>(100_000);
  /** Channel-backed sessions live here until ended (they hold a process or a stream). */
  private readonly local = new Map<string, McpSession>();
  private readonly unsubscribe: () => void;
  private readonly sweeper: NodeJS.Timeout;
  /** Sessions used since the last sweep: their last_seen_at is written in one batch, never per message. */
  private touched = new Set<string>();
  private lastPrune = 0;
  /** Sessions being opened on this replica, per principal (counted against the cap until created). */
  private readonly opening = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly registry: ServerRegistry,
    private readonly upstreams: UpstreamManager,
    private readonly bus: Bus,
    private readonly replicaId: string,
    private readonly logger: SessionLogger,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'session') this.forget(e.id);
      // Events may have been missed (cluster bus reconnect): drop cached bindings of
      // remote sessions; the next request re-reads the store. Local channels stay.
      else if (e.kind === 'flush') this.remote.clear();
    });
    this.sweeper = setInterval(() => this.sweepIdle(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Hold a place for a new session of `principalId`: 429 too_many_sessions
   * when the principal already has `limits.per_principal.sessions` open
   * sessions (counted in the store, so across replicas, plus those being
   * opened here). Call the returned function once the session was created or
   * failed to open. Session creation is a cold path: one store query here.
   */
  async holdRoom(principalId: string): Promise<() => void> {
    const cap = this.upstreams.limits?.perPrincipal.sessions ?? DEFAULT_LIMITS.perPrincipal.sessions;
    const mine = (this.opening.get(principalId) ?? 0) + 1;
    this.opening.set(principalId, mine);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const n = (this.opening.get(principalId) ?? 1) - 1;
      if (n > 0) this.opening.set(principalId, n);
      else this.opening.delete(principalId);
    };
    try {
      const open = await this.store.mcpSessions.countOpen(principalId, new Date(Date.now() - OPEN_SESSION_WINDOW_MS).toISOString());
      if (open + (this.opening.get(principalId) ?? 0) > cap) throw tooManySessions(cap);
    } catch (e) {
      release();
      throw e;
    }
    return release;
  }

  /** A new session id (192 random bits), for a session about to be created. */
  static newId(): string {
    return randomToken(24);
  }

  /** Record a new session for `principalId` (one store write); `id` from newId() when it was needed before. */
  async create(def: ServerDef, principalId: string, upstreamSessionId: string | null, virtual: VirtualSession | null, id = SessionManager.newId()): Promise<McpSession> {
    const s: McpSession = { id, server: def.name, principalId, upstreamSessionId, virtual };
    await this.store.mcpSessions.insert({ id: s.id, server: s.server, principalId, upstreamSessionId, replica: virtual ? this.replicaId : null });
    if (virtual) this.local.set(s.id, s);
    else this.remote.set(s.id, s);
    this.upstreams.sessionOpened(def.name);
    return s;
  }

  /**
   * The session with this id if it exists and belongs to `principalId` on
   * `server`; undefined otherwise (the caller answers 404 either way).
   */
  async get(id: string, principalId: string, server: string): Promise<McpSession | undefined> {
    if (id.length > 256) return undefined;
    const hit = this.cached(id, principalId, server);
    if (hit) return hit;
    let s = this.local.get(id) ?? this.remote.get(id);
    if (!s) {
      const rec = await this.store.mcpSessions.get(id);
      if (!rec) return undefined;
      const def = this.registry.get(rec.server);
      // channel-backed sessions live on the replica that holds the process/stream
      if (!def) return undefined;
      if (rec.replica !== null || isStdio(def) || def.transport === 'sse') {
        // Tell the session's owner (only) why, so operators can fix the routing.
        if (rec.principalId === principalId && rec.server === server && rec.replica !== this.replicaId) throw wrongReplica();
        return undefined;
      }
      s = { id: rec.id, server: rec.server, principalId: rec.principalId, upstreamSessionId: rec.upstreamSessionId, virtual: null };
      this.remote.set(id, s);
    }
    if (s.principalId !== principalId || s.server !== server) return undefined;
    this.touched.add(s.id);
    if (s.virtual && !s.virtual.alive) {
      await this.end(s);
      return undefined;
    }
    return s;
  }

  /**
   * The hot path's synchronous read: the session when it is in memory, belongs
   * to `principalId` on `server` and (channel-backed) is alive, exactly as `get`
   * would answer; undefined in every other case, which `get` then settles.
   */
  cached(id: string, principalId: string, server: string): McpSession | undefined {
    const s = this.local.get(id) ?? this.remote.get(id);
    if (!s || s.principalId !== principalId || s.server !== server || (s.virtual && !s.virtual.alive)) return undefined;
    this.touched.add(s.id);
    return s;
  }

  /** End a session here and everywhere: store row, memory, channel (kills a stdio process). */
  async end(s: McpSession): Promise<void> {
    this.forget(s.id);
    this.bus.publish({ kind: 'session', id: s.id });
    await this.store.mcpSessions.delete(s.id).catch((err) => this.logger.warn({ err }, 'failed to delete an MCP session row'));
  }

  private forget(id: string): void {
    const s = this.local.get(id);
    if (s) {
      this.local.delete(id);
      this.upstreams.sessionClosed(s.server);
      if (s.virtual?.alive) void s.virtual.close().catch(() => {});
      return;
    }
    const r = this.remote.get(id);
    if (r) {
      this.remote.delete(id);
      this.upstreams.sessionClosed(r.server);
    }
  }

  /** The channel of a session died (process exit, stream closed). */
  channelClosed(id: string): void {
    const s = this.local.get(id);
    if (s) void this.end(s);
  }

  /**
   * Housekeeping, every sweep: end stdio and legacy-SSE sessions idle past the
   * server's idle_timeout (10 minutes unless set); write last_seen_at of the sessions used since the last sweep
   * (one UPDATE); once an hour, delete session rows unused for SESSION_RETENTION_MS
   * (any replica may do it; it is idempotent).
   */
  private sweepIdle(): void {
    const now = Date.now();
    if (this.touched.size) {
      const ids = [...this.touched];
      this.touched = new Set();
      for (let i = 0; i < ids.length; i += 500)
        void this.store.mcpSessions.touch(ids.slice(i, i + 500)).catch((err) => this.logger.warn({ err }, 'failed to touch MCP sessions'));
    }
    if (now - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = now;
      void this.store.mcpSessions
        .deleteStale(new Date(now - SESSION_RETENTION_MS).toISOString())
        .catch((err) => this.logger.warn({ err }, 'failed to prune MCP sessions'));
    }
    for (const s of this.local.values()) {
      const def = this.registry.get(s.server);
      if (!s.virtual || s.virtual.busy) continue;
      const idle = !def ? null : isStdio(def) ? def.idle_timeout : def.transport === 'sse' ? (def.idle_timeout ?? LEGACY_SSE_IDLE_TIMEOUT_MS) : null;
      if (!def || (idle !== null && now - s.virtual.lastActivity > idle)) {
        this.logger.debug({ server: s.server }, 'ending idle MCP session');
        void this.end(s);
      }
    }
  }

  /** Sessions held in memory (channel-backed + cached remote). */
  get size(): number {
    return this.local.size + this.remote.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    const ids = [...this.local.keys()];
    await Promise.all(ids.map((id) => this.store.mcpSessions.delete(id).catch(() => {})));
    for (const s of this.local.values()) await s.virtual?.close().catch(() => {});
    this.local.clear();
    this.remote.clear();
  }
}
