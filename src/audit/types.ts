/**
 * Audit events (SPEC §7). Written through an AuditSink that never blocks the
 * caller: `record` enqueues and returns at once. Never put a secret, token,
 * password or Authorization header in an event.
 */
export type AuditAction =
  | 'auth.login'
  | 'auth.login_failed'
  | 'auth.register'
  | 'auth.logout'
  | 'auth.refresh_reuse'
  | 'auth.password_changed'
  | 'token.create'
  | 'token.revoke'
  | 'token.rotate'
  | 'token.update'
  | 'user.create'
  | 'user.update'
  | 'user.delete'
  | 'group.create'
  | 'group.update'
  | 'group.delete'
  | 'group.import'
  | 'role.create'
  | 'role.update'
  | 'role.delete'
  | 'server.create'
  | 'server.update'
  | 'server.delete'
  | 'server.start'
  | 'server.stop'
  | 'server.discover'
  | 'server.credentials'
  | 'service_account.create'
  | 'service_account.update'
  | 'service_account.delete'
  | 'service_account.rotate'
  | 'oauth.token'
  | 'oauth.client_registered'
  | 'oauth.client_deleted'
  | 'oauth.consent'
  | 'oauth.code_issued'
  | 'oauth.code_redeemed'
  | 'oauth.reuse_detected'
  | 'oauth.grant_revoked'
  | 'oauth.revoke'
  | 'mcp.request'
  | 'rate_limit.hit';

export interface AuditEvent {
  action: AuditAction;
  /** Principal id (user UUID, sa:<client_id>, provider:subject), or `unknown:<keyed hash>` for a failed login naming no account (auth/login-actor.ts). */
  actor?: string | null;
  actorType?: 'user' | 'service_account' | 'external' | 'anonymous' | 'system' | null;
  tokenId?: string | null;
  server?: string | null;
  method?: string | null;
  tool?: string | null;
  decision?: 'allow' | 'deny' | null;
  status?: number | null;
  latencyMs?: number | null;
  ip?: string | null;
  /** Small, secret-free structured detail (target ids, changed fields). */
  detail?: Record<string, unknown> | null;
}

export interface AuditSink {
  /**
   * Enqueue one event. The sink takes ownership of `e` (it is stamped with id and time in place): pass a fresh object.
   * `reserved`: the event takes one of the places held by `reserve`, so it is never dropped.
   */
  record(e: AuditEvent, reserved?: boolean): void;
  /**
   * Hold room for `n` events that are about to be recorded: false when the
   * queue cannot take `n` more now (the caller refuses the work instead of
   * doing it unaudited). Each `record(e, true)` uses one place; `release`
   * gives back places that will not be used.
   */
  reserve(n: number): boolean;
  release(n: number): void;
}
