/**
 * The MCP endpoint's logic, framework-free: one authenticated request in, one
 * response out. Each method reads as its steps:
 *
 *   POST    resolve server → parse → hold audit places → resolve session
 *           → authorize each message → forward the allowed ones → relay the
 *           reply (checked, lists filtered) → audit
 *   GET     resolve server → resolve session → authorize → open the stream
 *           (per-principal cap) → relay it (filtered by shape) → audit
 *   DELETE  resolve server → resolve session → end it here and upstream → audit
 *
 * Denied messages never reach the upstream; every message is audited or
 * refused (mcp-audit.ts).
 */
import { Readable } from 'node:stream';
import { insufficientScopeChallenge } from '../auth/challenge.js';
import { type AuditSink } from '../audit/types.js';
import { isStdio, type ServerDef } from '../config/schema.js';
import { GatewayError, toGatewayError, toJsonRpc, type JsonRpcId } from '../errors/index.js';
import { evaluate, visibility, type PolicyGroup } from '../policy/index.js';
import { authorizePost, type Denial, type Forward } from './authorize.js';
import { idForError, parseMcpBody, type ParsedBody } from './jsonrpc.js';
import { McpAudit, type McpMetrics, type McpRequestRecord } from './mcp-audit.js';
import { PrincipalCounter, tooManyStreams, type ProxyLimits } from './principal-caps.js';
import { type ServerRegistry } from './registry.js';
import { relay, type RelayContext } from './relay.js';
import { type ReplyPlan } from './reply-check.js';
import { type McpSession, type SessionManager } from './sessions.js';
import { TaskRegistry, taskScope } from './tasks.js';
import { header, JSON_HEADERS, type ProxyRequest, type ProxyResponse, type ProxyLogger } from './types.js';
import { type UpstreamManager } from './upstream-manager.js';
import { idKeyOf, UpstreamCalls } from './upstream-calls.js';

export { type ProxyCaller, type ProxyRequest, type ProxyResponse, type ProxyLogger } from './types.js';

/** JSON replies up to this size are sent in one write by the HTTP layer; larger ones stream. */
export const MAX_GATHERED_REPLY = 1024 * 1024;

export interface McpProxyDeps {
  registry: ServerRegistry;
  upstreams: UpstreamManager;
  sessions: SessionManager;
  /** Current groups (cached; reloaded on change). */
  groups: () => Promise<ReadonlyMap<string, PolicyGroup>>;
  audit: AuditSink;
  usage: { record(tokenId: string, server: string | null): void };
  logger: ProxyLogger;
  /** Public URL of the server's RFC 9728 metadata (for insufficient_scope challenges). */
  resourceMetadataUrl: (server: string) => string;
  /** Prometheus series (src/metrics): one count per audited message, upstream latency. */
  metrics?: McpMetrics;
  /** `server.max_batch` and `limits.per_principal`; default: the upstream manager's (from the config). */
  limits?: ProxyLimits;
}

export class McpProxy {
  /** Audit events and metrics of MCP requests (the HTTP layer records unauthenticated ones here too). */
  readonly audit: McpAudit;
  private readonly tasks = new TaskRegistry();
  private readonly limits: ProxyLimits;
  /** Open event streams (GET) per principal on this replica. */
  private readonly streams: PrincipalCounter;
  private readonly calls: UpstreamCalls;

  constructor(private readonly deps: McpProxyDeps) {
    this.audit = new McpAudit(deps.audit, deps.metrics, (name) => deps.registry.get(name) !== undefined);
    this.limits = deps.limits ?? deps.upstreams.limits;
    this.streams = new PrincipalCounter(() => this.limits.perPrincipal.eventStreams, tooManyStreams);
    this.calls = new UpstreamCalls(deps.upstreams, deps.sessions, this.audit);
  }

  // ---------------------------------------------------------------- POST

  async post(req: ProxyRequest): Promise<ProxyResponse> {
    const record = this.audit.begin(req.caller, req.server, req.ip);
    let parsed: ParsedBody | null = null;
    let res: ProxyResponse;
    try {
      const def = this.serverDef(req.server);
      parsed = this.parse(req);
      record.reserve(parsed.messages.length);
      const session = await this.resolveSession(req, def);
      const step = authorizePost(await this.authorizeContext(req, record), parsed);
      res = 'plan' in step ? await this.forward(req, def, session, parsed.batch, step) : step;
    } catch (e) {
      res = this.errorResponse(e, idForError(parsed));
    }
    this.finish(req, record, res);
    return res;
  }

  private parse(req: ProxyRequest): ParsedBody {
    if (!req.body || req.body.length === 0) throw new GatewayError('parse_error', { detail: 'Parse error: empty body' });
    return parseMcpBody(req.body, this.limits.maxBatch);
  }

  private async authorizeContext(req: ProxyRequest, record: McpRequestRecord) {
    return {
      caller: req.caller,
      server: req.server,
      groups: await this.deps.groups(),
      tasks: this.tasks,
      record,
      denial: (d: Denial) => this.denial(d, req.server),
    };
  }

  private async forward(req: ProxyRequest, def: ServerDef, session: McpSession | null, batch: boolean, fwd: Forward): Promise<ProxyResponse> {
    const virtual = isStdio(def) || def.transport === 'sse';
    const call = virtual ? await this.calls.postVirtual(req, def, session, batch, fwd) : await this.calls.postRemote(req, def, session, batch, fwd);
    try {
      return await relay(call.reply, this.relayContext(def, fwd.plan, call.session, call.mapError));
    } catch (e) {
      // A session just opened whose answer was refused is ended again: the client never learns its id.
      if (call.session && !session) await this.deps.sessions.end(call.session);
      throw e;
    }
  }

  // ---------------------------------------------------------------- GET

  async get(req: ProxyRequest): Promise<ProxyResponse> {
    const record = this.audit.begin(req.caller, req.server, req.ip);
    let res: ProxyResponse;
    try {
      const def = this.serverDef(req.server);
      const session = await this.resolveSession(req, def);
      const groups = await this.deps.groups();
      const d = evaluate(req.caller, groups, { kind: 'session', server: def.name, method: 'GET' });
      record.add({ method: 'GET', tool: null, decision: d.allow ? 'allow' : 'deny', detail: { http: 'GET' } });
      if (!d.allow) throw this.denial(d, def.name);
      res = await this.openStream(req, def, session, groups);
    } catch (e) {
      res = this.errorResponse(e, null);
    }
    this.finish(req, record, res);
    return res;
  }

  /** The session's event stream, relayed with list results filtered by shape; holds a place of the caller's stream cap while open. */
  private async openStream(req: ProxyRequest, def: ServerDef, session: McpSession | null, groups: ReadonlyMap<string, PolicyGroup>): Promise<ProxyResponse> {
    const v = visibility(req.caller, groups, def.name);
    const plan: ReplyPlan = { mode: 'stream', pending: new Map(), visibility: v, tasks: taskScope(this.tasks, def.name, req.caller.id, v), gatewayReplies: [] };
    // A remote stream's responses (resumed replies) must answer requests of this session.
    if (!isStdio(def) && def.transport !== 'sse') plan.idKey = idKeyOf(session);
    const principal = req.caller.id;
    this.streams.acquire(principal);
    let res: ProxyResponse;
    try {
      const { reply, mapError } = await this.calls.openStream(req, def, session);
      res = await relay(reply, this.relayContext(def, plan, session, mapError));
    } catch (e) {
      this.streams.release(principal);
      throw e;
    }
    if (res.body instanceof Readable) res.body.once('close', () => this.streams.release(principal));
    else this.streams.release(principal);
    return res;
  }

  // ---------------------------------------------------------------- DELETE

  async delete(req: ProxyRequest): Promise<ProxyResponse> {
    const record = this.audit.begin(req.caller, req.server, req.ip);
    record.add({ method: 'DELETE', tool: null, decision: 'allow', detail: { http: 'DELETE' } });
    let res: ProxyResponse;
    try {
      const def = this.serverDef(req.server);
      const session = await this.resolveSession(req, def);
      if (!session) throw new GatewayError('bad_request', { detail: 'Bad Request: Mcp-Session-Id header is required' });
      // Ending one's own session needs no grant: it only releases resources.
      await this.calls.endUpstreamSession(req, def, session, this.deps.logger);
      await this.deps.sessions.end(session);
      res = { status: 204, headers: {}, body: null };
    } catch (e) {
      res = this.errorResponse(e, null);
    }
    this.finish(req, record, res);
    return res;
  }

  // ---------------------------------------------------------------- shared steps

  private serverDef(name: string): ServerDef {
    const def = this.deps.registry.get(name);
    if (!def) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    return def;
  }

  /** The request's session (null without Mcp-Session-Id); 404 when unknown or another principal's. */
  private async resolveSession(req: ProxyRequest, def: ServerDef): Promise<McpSession | null> {
    const id = header(req.headers, 'mcp-session-id');
    if (id === undefined) return null;
    const s = await this.deps.sessions.get(id, req.caller.id, def.name);
    if (!s) throw new GatewayError('session_not_found', { detail: 'Session not found' });
    return s;
  }

  private relayContext(def: ServerDef, plan: ReplyPlan, session: McpSession | null, mapError: (e: unknown) => GatewayError): RelayContext {
    return { server: def.name, plan, session, endSession: (s) => this.deps.sessions.end(s), logger: this.deps.logger, mapError };
  }

  private denial(d: Denial, server: string): GatewayError {
    if (d.reason === 'insufficient_scope')
      return new GatewayError('insufficient_scope', {
        detail: d.message,
        headers: {
          'WWW-Authenticate': insufficientScopeChallenge(d.scope ?? 'mcp:execute', this.deps.resourceMetadataUrl(server)),
        },
      });
    return new GatewayError('forbidden', { detail: d.message });
  }

  private errorResponse(e: unknown, id: JsonRpcId): ProxyResponse {
    const err = toGatewayError(e);
    if (err.status >= 500) this.deps.logger[err.code === 'internal_error' ? 'error' : 'warn']({ err: err.internal ?? e, code: err.code }, 'MCP request failed');
    return { status: err.status, headers: { ...JSON_HEADERS, ...err.headers }, body: Buffer.from(JSON.stringify(toJsonRpc(err, id))) };
  }

  /** The last step of every request: its audit events and metrics, and the token's usage. */
  private finish(req: ProxyRequest, record: McpRequestRecord, res: ProxyResponse): void {
    record.finish(res.status);
    if (req.caller.method === 'api_token' && req.caller.tokenId) this.deps.usage.record(req.caller.tokenId, req.server);
  }
}
