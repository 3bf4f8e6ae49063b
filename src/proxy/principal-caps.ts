/**
 * Per-principal caps (SPEC §15, `limits.per_principal`), so one caller cannot
 * exhaust a shared upstream: open sessions (counted in the store, across
 * replicas, when a session is created), stdio processes and open event
 * streams (counted in memory, on this replica). Past a cap: 429 with a
 * JSON-RPC error naming it. Also `server.max_batch`.
 */
import { GatewayError } from '../errors/index.js';

export interface ProxyLimits {
  /** Most messages in one JSON-RPC batch. */
  maxBatch: number;
  perPrincipal: {
    sessions: number;
    stdioProcesses: number;
    eventStreams: number;
  };
}

export const DEFAULT_LIMITS: ProxyLimits = Object.freeze({
  maxBatch: 100,
  perPrincipal: Object.freeze({ sessions: 100, stdioProcesses: 4, eventStreams: 20 }),
});

/** The limits of a loaded config (`server.max_batch`, `limits.per_principal`). */
export function proxyLimits(config: {
  server: { max_batch: number };
  limits: { per_principal: { sessions: number; stdio_processes: number; event_streams: number } };
}): ProxyLimits {
  const p = config.limits.per_principal;
  return { maxBatch: config.server.max_batch, perPrincipal: { sessions: p.sessions, stdioProcesses: p.stdio_processes, eventStreams: p.event_streams } };
}

export const tooManySessions = (cap: number) =>
  new GatewayError('too_many_sessions', { detail: `You have ${cap} open MCP sessions, the most allowed (limits.per_principal.sessions); end one with DELETE first` });

/** How many of something each principal holds on this replica, up to a cap. */
export class PrincipalCounter {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly cap: () => number,
    private readonly refusal: (cap: number) => GatewayError,
  ) {}

  /** Take one place for `principal`; throws the refusal (429) at the cap. */
  acquire(principal: string): void {
    const n = this.counts.get(principal) ?? 0;
    const cap = this.cap();
    if (n >= cap) throw this.refusal(cap);
    this.counts.set(principal, n + 1);
  }

  release(principal: string): void {
    const n = (this.counts.get(principal) ?? 0) - 1;
    if (n > 0) this.counts.set(principal, n);
    else this.counts.delete(principal);
  }

  count(principal: string): number {
    return this.counts.get(principal) ?? 0;
  }
}

export const tooManyProcesses = (cap: number) =>
  new GatewayError('too_many_processes', { detail: `You run ${cap} stdio MCP server processes, the most allowed (limits.per_principal.stdio_processes); end a session first` });

export const tooManyStreams = (cap: number) =>
  new GatewayError('too_many_streams', { detail: `You have ${cap} event streams open, the most allowed (limits.per_principal.event_streams); close one first` });
