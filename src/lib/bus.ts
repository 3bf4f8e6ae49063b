/**
 * Cache invalidation events. The local bus delivers to this process; the
 * cluster bus (Redis) also delivers to every other replica.
 */
export type InvalidationEvent =
  | { kind: 'user'; id: string }
  | { kind: 'token'; hash: string }
  | { kind: 'family'; id: string }
  | { kind: 'groups' }
  /** Custom roles changed (their permissions apply to the next request). */
  | { kind: 'roles' }
  | { kind: 'service_account'; id: string }
  | { kind: 'servers' }
  | { kind: 'session'; id: string }
  /** Per-user upstream credentials of one principal for one server changed. */
  | { kind: 'credentials'; principal: string; server: string }
  /** An OAuth grant was revoked: its access and refresh tokens end (authorization server, SPEC §10). */
  | { kind: 'oauth_grant'; id: string }
  /**
   * Drop every cache entry and reload what must be complete (groups, revoked
   * families). Delivered locally by the cluster bus when this replica may have
   * missed events (Redis subscriber reconnected, or while it is disconnected).
   */
  | { kind: 'flush' };

export type InvalidationHandler = (e: InvalidationEvent) => void;

export interface Bus {
  publish(e: InvalidationEvent): void;
  subscribe(fn: InvalidationHandler): () => void;
  close(): Promise<void>;
}

export class LocalBus implements Bus {
  private readonly handlers = new Set<InvalidationHandler>();

  publish(e: InvalidationEvent): void {
    this.deliver(e);
  }

  /** Deliver to local subscribers only (used by cluster buses for remote events). */
  deliver(e: InvalidationEvent): void {
    for (const h of this.handlers) h(e);
  }

  subscribe(fn: InvalidationHandler): () => void {
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
