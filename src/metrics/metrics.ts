/**
 * Prometheus metrics (SPEC §7). Each app owns one Registry (never prom-client's
 * global one), so several apps can live in one process (tests, benchmarks).
 * Every label has a bounded set of values: methods are the known MCP methods
 * or `other`, servers are the names the gateway resolved (capped), reasons are
 * error-registry codes.
 */
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { CellCounter, CellHistogram, type CounterCell, type HistogramCell } from './cells.js';
import { RATE_DIMENSIONS, type RateDimension } from '../ratelimit/index.js';

/** Seconds; from 25 µs (a cached-token check) to 1 s (a slow remote introspection). */
export const AUTH_BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Seconds; loopback hops (~100 µs) up to long tool calls. */
export const UPSTREAM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** MCP methods that get their own label value; anything else is `other`. */
export const MCP_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'roots/list',
  'sampling/createMessage',
  'elicitation/create',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  // HTTP-level operations of the Streamable HTTP transport
  'stream',
  'session/delete',
]);

/** Outcome of one MCP request, as counted in portcullis_mcp_requests_total. */
export type McpOutcome = 'ok' | 'denied' | 'unauthenticated' | 'rate_limited' | 'invalid' | 'upstream_error' | 'timeout' | 'error';

/** Outcome label from a policy decision and the response status. */
export function mcpOutcome(decision: 'allow' | 'deny' | null | undefined, status: number): McpOutcome {
  if (decision === 'deny' || status === 403) return 'denied';
  if (status === 401) return 'unauthenticated';
  if (status === 429) return 'rate_limited';
  if (status === 504) return 'timeout';
  if (status === 502 || status === 503) return 'upstream_error';
  if (status >= 500) return 'error';
  if (status >= 400) return 'invalid';
  return 'ok';
}

export const AUTH_FAILURE_METHODS = ['api_token', 'jwt', 'bearer', 'mtls', 'none'] as const;

const MAX_SERVER_LABELS = 1000;

export class Metrics {
  readonly registry: Registry;
  // The per-request series are cell metrics (./cells.ts): a field increment per observation.
  readonly authSuccess: CellCounter;
  readonly authFailure: CellCounter;
  readonly authDuration: CellHistogram;
  readonly mcpRequests: CellCounter;
  readonly upstreamDuration: CellHistogram;
  readonly rateLimited: Counter<'dimension'>;
  readonly auditDropped: Counter<never>;
  private readonly servers = new Set<string>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [(this.registry = new Registry())];
    const reg = this.registry;
    this.authSuccess = new CellCounter('portcullis_auth_success_total', 'Successful authentications, by credential method.', ['method'], reg);
    this.authFailure = new CellCounter('portcullis_auth_failure_total', 'Failed authentications, by credential method and error code.', ['method', 'reason'], reg);
    this.authDuration = new CellHistogram('portcullis_auth_duration_seconds', 'Time spent authenticating a request.', [], AUTH_BUCKETS, reg);
    this.mcpRequests = new CellCounter('portcullis_mcp_requests_total', 'MCP requests, by server, JSON-RPC method and outcome.', ['server', 'method', 'outcome'], reg);
    this.upstreamDuration = new CellHistogram(
      'portcullis_upstream_duration_seconds',
      'Time from forwarding a request upstream to its response (headers for streams).',
      ['server'],
      UPSTREAM_BUCKETS,
      reg,
    );
    this.authDurationCell = this.authDuration.cell();
    this.rateLimited = new Counter({ name: 'portcullis_rate_limited_total', help: 'Requests refused by a rate limit, by dimension.', labelNames: ['dimension'], registers });
    this.auditDropped = new Counter({ name: 'portcullis_audit_dropped_total', help: 'Audit events lost because the queue was full or the store write failed.', registers });
    for (const d of [...RATE_DIMENSIONS, 'login']) this.rateLimited.inc({ dimension: d }, 0);
    this.auditDropped.inc(0);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: '' });
  }

  /** Bounded server label: the resolved name, `unknown` when none, `other` past the cap. */
  serverLabel(server: string | null | undefined): string {
    if (!server) return 'unknown';
    if (this.servers.has(server)) return server;
    if (this.servers.size >= MAX_SERVER_LABELS) return 'other';
    this.servers.add(server);
    return server;
  }

  /** Cells bound once per label combination (bounded: servers are capped, methods and outcomes are fixed sets). */
  private readonly mcpCells = new Map<string, Map<string, Map<McpOutcome, CounterCell>>>();
  private readonly upstreamCells = new Map<string, HistogramCell>();
  private readonly authCells = new Map<string, CounterCell>();
  private readonly authDurationCell: HistogramCell;

  /** Count one MCP request (a batch counts each of its messages). */
  mcpRequest(server: string | null | undefined, method: string | null | undefined, outcome: McpOutcome): void {
    const s = this.serverLabel(server);
    const m = method && MCP_METHODS.has(method) ? method : 'other';
    let byMethod = this.mcpCells.get(s);
    if (!byMethod) this.mcpCells.set(s, (byMethod = new Map()));
    let byOutcome = byMethod.get(m);
    if (!byOutcome) byMethod.set(m, (byOutcome = new Map()));
    let c = byOutcome.get(outcome);
    if (!c) byOutcome.set(outcome, (c = this.mcpRequests.cell({ server: s, method: m, outcome })));
    c.value++;
  }

  /**
   * Count one audited MCP message from what the proxy knows: the JSON-RPC
   * method (or `GET`/`DELETE` for the stream and session end), the policy
   * decision and the HTTP status the client got.
   */
  mcpResult(server: string | null | undefined, method: string | null | undefined, decision: 'allow' | 'deny' | null | undefined, status: number): void {
    const m = method === 'GET' ? 'stream' : method === 'DELETE' ? 'session/delete' : method;
    this.mcpRequest(server, m, mcpOutcome(decision, status));
  }

  observeUpstream(server: string, seconds: number): void {
    const label = this.serverLabel(server);
    let h = this.upstreamCells.get(label);
    if (!h) this.upstreamCells.set(label, (h = this.upstreamDuration.cell({ server: label })));
    this.upstreamDuration.record(h, seconds);
  }

  /** One authentication: its duration, and a success by method (method null: a failure, counted by the caller). */
  observeAuth(seconds: number, method: string | null): void {
    this.authDuration.record(this.authDurationCell, seconds);
    if (method === null) return;
    let c = this.authCells.get(method);
    if (!c) this.authCells.set(method, (c = this.authSuccess.cell({ method })));
    c.value++;
  }

  rateLimitHit(dimension: RateDimension | 'login'): void {
    this.rateLimited.inc({ dimension });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.registry.clear();
  }
}
