/**
 * The one place that writes the audit events and the request metrics of the
 * MCP endpoint: one `mcp.request` event (and one count in
 * `portcullis_mcp_requests_total`) per JSON-RPC message, with the caller, the
 * server, the method, the tool, the policy decision, the HTTP status the
 * client got and the latency; one per GET or DELETE; one per request refused
 * before its caller was known.
 *
 * A POST holds its places in the audit queue before anything is forwarded
 * (`reserve`): a batch the queue cannot take is refused with 413, so no
 * message ever runs unaudited because the queue was full.
 */
import { performance } from 'node:perf_hooks';
import { type AuditEvent, type AuditSink } from '../audit/types.js';
import { GatewayError } from '../errors/index.js';
import { type McpAction } from '../policy/index.js';
import { type ProxyCaller } from './types.js';

/** Prometheus series of the MCP endpoint (src/metrics). */
export interface McpMetrics {
  mcpResult(server: string | null, method: string | null, decision: 'allow' | 'deny' | null, status: number): void;
  observeUpstream(server: string, seconds: number): void;
}

/** What is known of one message once it was authorized. */
export interface AuditDraft {
  method: string | null;
  tool: string | null;
  decision: 'allow' | 'deny' | null;
  detail?: Record<string, unknown>;
}

export class McpAudit {
  constructor(
    private readonly sink: AuditSink,
    private readonly metrics: McpMetrics | undefined,
    /** Whether a name is a configured server (metrics label only known servers). */
    private readonly isServer: (name: string) => boolean,
  ) {}

  /**
   * A request to `/mcp/{server}` refused before its caller was known (401).
   * `server`: the path segment when it has the shape of a server name, else null.
   */
  unauthenticated(server: string | null, ip: string | null, code: string): void {
    this.sink.record({ action: 'mcp.request', actorType: 'anonymous', server, method: null, decision: 'deny', status: 401, ip, detail: { code } });
    this.metrics?.mcpResult(server && this.isServer(server) ? server : null, null, null, 401);
  }

  /** The record of one authenticated request; `finish` writes it. */
  begin(caller: ProxyCaller, server: string, ip: string | null): McpRequestRecord {
    return new McpRequestRecord(this.sink, this.metrics, caller, server, ip);
  }

  /** Time one upstream exchange, failures included. */
  observeUpstream(server: string, t0: number): void {
    this.metrics?.observeUpstream(server, (performance.now() - t0) / 1000);
  }
}

export class McpRequestRecord {
  private readonly drafts: AuditDraft[] = [];
  private readonly t0 = performance.now();
  /** Places held in the audit queue and not yet used. */
  private held = 0;

  constructor(
    private readonly sink: AuditSink,
    private readonly metrics: McpMetrics | undefined,
    readonly caller: ProxyCaller,
    readonly server: string,
    readonly ip: string | null,
  ) {}

  /** Hold room in the audit queue for `n` messages; 413 batch_too_large when the queue cannot take them now. */
  reserve(n: number): void {
    if (!this.sink.reserve(n))
      throw new GatewayError('batch_too_large', { detail: `The audit queue cannot take ${n} more events right now; retry later or send a smaller batch` });
    this.held += n;
  }

  add(d: AuditDraft): void {
    this.drafts.push(d);
  }

  /** A draft for a message of this action, as the policy decided. */
  addAction(method: string, action: McpAction, allow: boolean): void {
    const d: AuditDraft = { method, tool: null, decision: allow ? 'allow' : 'deny' };
    switch (action.kind) {
      case 'tool':
        d.tool = action.name;
        break;
      case 'prompt':
        d.tool = action.name;
        d.detail = { prompt: action.name };
        break;
      case 'resource':
        d.detail = { uri: action.uri.slice(0, 512) };
        break;
      case 'completion':
        d.detail = action.ref.type === 'prompt' ? { prompt: action.ref.name } : { uri: action.ref.uri.slice(0, 512) };
        break;
      case 'task':
        d.tool = action.tool;
        d.detail = { task: action.taskId.slice(0, 256) };
        break;
    }
    this.drafts.push(d);
  }

  /** Write one event per message (one for the request when no message was read) and count each. */
  finish(status: number): void {
    const latencyMs = Math.round((performance.now() - this.t0) * 100) / 100;
    const c = this.caller;
    const drafts = this.drafts.length ? this.drafts : [NO_MESSAGE];
    for (const d of drafts) {
      const e: AuditEvent = {
        action: 'mcp.request',
        actor: c.id,
        actorType: c.type,
        tokenId: c.tokenId,
        server: this.server,
        method: d.method,
        tool: d.tool,
        decision: d.decision,
        status,
        latencyMs,
        ip: this.ip,
      };
      if (d.detail) e.detail = d.detail;
      const reserved = this.held > 0;
      if (reserved) this.held--;
      this.sink.record(e, reserved);
      this.metrics?.mcpResult(this.server, d.method, d.decision, status);
    }
    if (this.held > 0) this.sink.release(this.held);
    this.held = 0;
  }
}

const NO_MESSAGE: AuditDraft = { method: null, tool: null, decision: null };
