/**
 * The MCP endpoint's logic, framework-free: for one authenticated request it
 * resolves the server and session, authorizes every JSON-RPC message,
 * forwards what is allowed, and relays the upstream's answer with list
 * results filtered. Denied messages never reach the upstream.
 *
 *   resolveServer → parse → resolveSession → authorize each → forward → relay
 */
import { type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type Readable } from 'node:stream';
import { type AuditEvent, type AuditSink } from '../audit/types.js';
import { isStdio, type RemoteServerDef, type ServerDef } from '../config/schema.js';
import { GatewayError, jsonRpcError, JSONRPC, toGatewayError, toJsonRpc, type JsonRpcId } from '../errors/index.js';
import { classify, evaluate, visibility, type Decision, type McpAction, type PolicyGroup, type PolicySubject, type Visibility } from '../policy/index.js';
import { forwardableHeaders, RELAYED_RESPONSE_HEADERS } from './credentials.js';
import { LIST_KEYS, rewriteJsonBody, rewriteSseBody, SseRewriter, type RewritePlan } from './filter.js';
import { idForError, isRequest, isResponse, parseMcpBody, type JsonRpcMessage, type JsonRpcResponse, type ParsedBody } from './jsonrpc.js';
import { type ServerRegistry } from './registry.js';
import { type McpSession, type SessionManager } from './sessions.js';
import { type UpstreamManager } from './upstream-manager.js';
import { readBody, type UpstreamExchange } from './upstreams/http.js';
import { type UpstreamReply } from './upstreams/virtual-session.js';

/** The authenticated caller (a structural subset of auth's Principal). */
export interface ProxyCaller extends PolicySubject {
  id: string;
  type: 'user' | 'service_account' | 'external';
  tokenId: string | null;
  method: string;
}

export interface ProxyRequest {
  server: string;
  caller: ProxyCaller;
  headers: IncomingHttpHeaders;
  body: Buffer | null;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  ip: string | null;
}

export interface ProxyResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | Readable | null;
}

export interface ProxyLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface McpProxyDeps {
  registry: ServerRegistry;
  upstreams: UpstreamManager;
  sessions: SessionManager;
  /** Current groups (cached; reloaded on change): the map itself when no reload is in flight. */
  groups: () => ReadonlyMap<string, PolicyGroup> | Promise<ReadonlyMap<string, PolicyGroup>>;
  audit: AuditSink;
  usage: { record(tokenId: string, server: string | null): void };
  logger: ProxyLogger;
  /** Public URL of the server's RFC 9728 metadata (for insufficient_scope challenges). */
  resourceMetadataUrl: (server: string) => string;
  /** Prometheus series (src/metrics): one count per audited message, upstream latency. */
  metrics?: {
    mcpResult(server: string, method: string | null, decision: 'allow' | 'deny' | null, status: number): void;
    observeUpstream(server: string, seconds: number): void;
  };
}

/** Largest upstream JSON body the gateway will buffer to rewrite. */
const MAX_REWRITE_BODY = 64 * 1024 * 1024;
/** JSON replies up to this size are gathered and sent in one write; larger ones stream through. */
export const MAX_GATHERED_REPLY = 1024 * 1024;
const JSON_HEADERS = { 'content-type': 'application/json' };

interface AuditDraft {
  method: string | null;
  tool: string | null;
  decision: 'allow' | 'deny' | null;
  detail?: Record<string, unknown>;
}

const isVirtual = (def: ServerDef): def is Exclude<ServerDef, RemoteServerDef> | (RemoteServerDef & { transport: 'sse' }) => isStdio(def) || def.transport === 'sse';

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function auditTarget(a: McpAction): Pick<AuditDraft, 'tool' | 'detail'> {
  switch (a.kind) {
    case 'tool':
      return { tool: a.name };
    case 'prompt':
      return { tool: a.name, detail: { prompt: a.name } };
    case 'resource':
      return { tool: null, detail: { uri: a.uri.slice(0, 512) } };
    case 'completion':
      return { tool: null, detail: a.ref.type === 'prompt' ? { prompt: a.ref.name } : { uri: a.ref.uri.slice(0, 512) } };
    default:
      return { tool: null };
  }
}

export class McpProxy {
  constructor(private readonly deps: McpProxyDeps) {}

  private serverDef(name: string): ServerDef {
    const def = this.deps.registry.get(name);
    if (!def) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    return def;
  }

  /**
   * The request's session (null without Mcp-Session-Id); 404 when unknown. Synchronous for a session in
   * memory, as are groups() and upstream headers when cached: a warm request awaits only real I/O.
   */
  private resolveSession(req: ProxyRequest, def: ServerDef): McpSession | null | Promise<McpSession> {
    const id = header(req.headers, 'mcp-session-id');
    if (id === undefined) return null;
    return (
      this.deps.sessions.cached(id, req.caller.id, def.name) ??
      this.deps.sessions.get(id, req.caller.id, def.name).then((s) => {
        if (!s) throw new GatewayError('session_not_found', { detail: 'Session not found' });
        return s;
      })
    );
  }

  private denial(d: Exclude<Decision, { allow: true }>, server: string): GatewayError {
    if (d.reason === 'insufficient_scope')
      return new GatewayError('insufficient_scope', {
        detail: d.message,
        headers: {
          'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${d.scope}", resource_metadata="${this.deps.resourceMetadataUrl(server)}"`,
        },
      });
    return new GatewayError('forbidden', { detail: d.message });
  }

  private denyReply(id: string | number, d: Exclude<Decision, { allow: true }>, server: string): JsonRpcResponse {
    return jsonRpcError(id, JSONRPC.FORBIDDEN, d.message, { code: d.reason === 'insufficient_scope' ? 'insufficient_scope' : 'forbidden', server, ...(d.scope ? { scope: d.scope } : {}) }) as JsonRpcResponse;
  }

  private errorResponse(e: unknown, id: JsonRpcId): ProxyResponse {
    const err = toGatewayError(e);
    if (err.status >= 500) this.deps.logger[err.code === 'internal_error' ? 'error' : 'warn']({ err: err.internal ?? e, code: err.code }, 'MCP request failed');
    return { status: err.status, headers: { ...JSON_HEADERS, ...err.headers }, body: Buffer.from(JSON.stringify(toJsonRpc(err, id))) };
  }

  private record(req: ProxyRequest, server: string, drafts: AuditDraft[], status: number, t0: number): void {
    const latencyMs = Math.round((performance.now() - t0) * 100) / 100;
    const c = req.caller;
    for (const d of drafts.length ? drafts : [{ method: null, tool: null, decision: null } as AuditDraft]) {
      const e: AuditEvent = {
        action: 'mcp.request',
        actor: c.id,
        actorType: c.type,
        tokenId: c.tokenId,
        server,
        method: d.method,
        tool: d.tool,
        decision: d.decision,
        status,
        latencyMs,
        ip: req.ip,
      };
      if (d.detail) e.detail = d.detail;
      this.deps.audit.record(e);
      this.deps.metrics?.mcpResult(server, d.method, d.decision, status);
    }
  }

  /** Time one upstream exchange (to the response headers), failures included: `p` was started at `t0`. */
  private async timed<T>(server: string, t0: number, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } finally {
      this.deps.metrics?.observeUpstream(server, (performance.now() - t0) / 1000);
    }
  }

  private countUsage(req: ProxyRequest, server: string): void {
    if (req.caller.method === 'api_token' && req.caller.tokenId) this.deps.usage.record(req.caller.tokenId, server);
  }

  // ---------------------------------------------------------------- POST

  /**
   * One POST, in one async frame on the hot path (a remote server, session and
   * groups in memory): authorize synchronously, await the upstream exchange,
   * relay. The remote forward is inline here rather than in async helpers of
   * its own (each would add a promise and a microtask per request; the saving
   * is below what the benchmark resolves, docs/performance-history.md "Twelfth
   * round"); only the cold paths (a session or groups not in memory, a
   * channel-backed server, a new session) await more.
   */
  async post(req: ProxyRequest): Promise<ProxyResponse> {
    const t0 = performance.now();
    const drafts: AuditDraft[] = [];
    let parsed: ParsedBody | null = null;
    let res: ProxyResponse;
    try {
      const def = this.serverDef(req.server);
      if (!req.body || req.body.length === 0) throw new GatewayError('parse_error', { detail: 'Parse error: empty body' });
      parsed = parseMcpBody(req.body);
      const sessionOrWait = this.resolveSession(req, def);
      const session = sessionOrWait instanceof Promise ? await sessionOrWait : sessionOrWait;
      const groupsOrWait = this.deps.groups();
      const groups = groupsOrWait instanceof Promise ? await groupsOrWait : groupsOrWait;
      const step = this.authorizePost(req, def, parsed, groups, drafts);
      if (!(step instanceof Forward)) res = step;
      else if (isVirtual(def)) res = await this.postVirtual(req, def, session, parsed.batch, step);
      else {
        const http = this.deps.upstreams.http(def as RemoteServerDef);
        const headersOrWait = this.deps.upstreams.upstreamHeaders(def, req.caller.id, forwardableHeaders(req.headers));
        const headers = headersOrWait instanceof Promise ? await headersOrWait : headersOrWait;
        headers['content-type'] = 'application/json';
        headers['accept-encoding'] = 'identity';
        if (session?.upstreamSessionId) headers['mcp-session-id'] = session.upstreamSessionId;
        const body = step.messages.length === parsed.messages.length ? req.body : JSON.stringify(parsed.batch ? step.messages : step.messages[0]);
        // A reply the gateway rewrites must be read whole (bounded); any other JSON reply is gathered up to
        // MAX_GATHERED_REPLY (one write to the client) and streamed beyond that.
        const rewrite = step.plan.listIds.size > 0 || step.plan.gatewayReplies.length > 0;
        const t1 = performance.now();
        let up: UpstreamExchange;
        try {
          up = await http.exchange({ method: 'POST', headers, body, gather: rewrite ? MAX_REWRITE_BODY : MAX_GATHERED_REPLY, overflow: rewrite ? 'fail' : 'stream' });
        } finally {
          this.deps.metrics?.observeUpstream(def.name, (performance.now() - t1) / 1000);
        }
        let s = session;
        if (!s && step.hasInit && up.status === 200) {
          const upstreamSid = up.headers['mcp-session-id'];
          s = await this.deps.sessions.create(def, req.caller.id, typeof upstreamSid === 'string' ? upstreamSid : null, null);
        }
        const out = this.relay(up, step.plan, parsed.batch, s, step.requestIds, def, http);
        res = out instanceof Promise ? await out : out;
      }
    } catch (e) {
      res = this.errorResponse(e, idForError(parsed));
    }
    this.countUsage(req, req.server);
    this.record(req, req.server, drafts, res.status, t0);
    return res;
  }

  /**
   * Authorize every message of a POST (each one audited in `drafts`): the
   * gateway's own answer when nothing is to be forwarded or a single message is
   * refused, else what to forward and how to rewrite the reply.
   */
  private authorizePost(req: ProxyRequest, def: ServerDef, parsed: ParsedBody, groups: ReadonlyMap<string, PolicyGroup>, drafts: AuditDraft[]): ProxyResponse | Forward {
    const gatewayReplies: JsonRpcResponse[] = [];
    const forward: JsonRpcMessage[] = [];
    let listIds: Map<string | number, string> | null = null;
    const requestIds: (string | number)[] = [];
    let hasInit = false;
    for (const m of parsed.messages) {
      const response = isResponse(m);
      const method = response ? undefined : (m as { method: string }).method;
      const action = classify(def.name, method, response ? undefined : (m as { params?: unknown }).params);
      const d = evaluate(req.caller, groups, action);
      const target = auditTarget(action);
      drafts.push({ method: method ?? '(response)', tool: target.tool, decision: d.allow ? 'allow' : 'deny', detail: target.detail });
      if (d.allow) {
        forward.push(m);
        if (isRequest(m)) {
          requestIds.push(m.id);
          if (m.method === 'initialize') hasInit = true;
          if (LIST_KEYS[m.method]) (listIds ??= new Map()).set(m.id, m.method);
        }
        continue;
      }
      if (!parsed.batch) {
        if (isRequest(m) && d.reason !== 'insufficient_scope')
          return { status: 200, headers: { ...JSON_HEADERS }, body: Buffer.from(JSON.stringify(this.denyReply(m.id, d, def.name))) };
        throw this.denial(d, def.name);
      }
      if (isRequest(m)) gatewayReplies.push(this.denyReply(m.id, d, def.name));
      // denied notifications and responses inside a batch are dropped
    }

    if (forward.length === 0) {
      if (!gatewayReplies.length) return { status: 202, headers: {}, body: null };
      return { status: 200, headers: { ...JSON_HEADERS }, body: Buffer.from(JSON.stringify(gatewayReplies)) };
    }
    const plan: RewritePlan = {
      visibility: listIds ? visibility(req.caller, groups, def.name) : ALL_VISIBLE,
      listIds: listIds ?? NO_LIST_IDS,
      byShape: false,
      gatewayReplies,
    };
    return new Forward(forward, plan, requestIds, hasInit);
  }

  /** The POST of a channel-backed server (stdio, legacy SSE): its session is opened by `initialize`. */
  private async postVirtual(req: ProxyRequest, def: ServerDef, session: McpSession | null, batch: boolean, step: Forward): Promise<ProxyResponse> {
    let s = session;
    if (!s) {
      if (!step.hasInit) throw new GatewayError('bad_request', { detail: 'Bad Request: Mcp-Session-Id header is required' });
      let sid = '';
      const vs = await this.deps.upstreams.openVirtual(def, req.caller.id, () => this.deps.sessions.channelClosed(sid));
      try {
        s = await this.deps.sessions.create(def, req.caller.id, null, vs);
      } catch (e) {
        await vs.close().catch(() => {});
        throw e;
      }
      sid = s.id;
    }
    const accept = header(req.headers, 'accept') ?? '';
    const reply = await this.timed(def.name, performance.now(), s.virtual!.post(step.messages, batch, accept.includes('text/event-stream'), req.signal));
    return this.relay(reply, step.plan, batch, s, step.requestIds, def);
  }

  /** Turn an upstream reply into the client's response (synchronously unless a session must end or a body be read whole). */
  private relay(
    reply: { status: number; headers: Readonly<Record<string, string | string[] | undefined>>; body: UpstreamReply['body'] },
    plan: RewritePlan,
    batch: boolean,
    session: McpSession | null,
    requestIds: readonly (string | number)[],
    def: ServerDef,
    errors: ErrorMapper = AS_IS,
  ): ProxyResponse | Promise<ProxyResponse> {
    const body = reply.body;
    if (reply.status === 401 || reply.status === 403) {
      drain(body);
      throw new GatewayError('upstream_unavailable', { detail: `MCP server ${def.name} refused the gateway's credentials`, internal: { status: reply.status } });
    }
    if (reply.status === 404 && session) {
      drain(body);
      return this.deps.sessions.end(session).then(() => {
        throw new GatewayError('session_not_found', { detail: 'Session not found (ended by the MCP server)' });
      });
    }
    if (reply.status >= 500) {
      drain(body);
      throw new GatewayError('upstream_unavailable', { detail: `MCP server ${def.name} failed (HTTP ${reply.status})`, internal: { status: reply.status } });
    }
    const headers: Record<string, string> = {};
    for (const k of RELAYED_RESPONSE_HEADERS) {
      const v = reply.headers[k];
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    if (session) headers['mcp-session-id'] = session.id;
    const ctype = (headers['content-type'] ?? '').toLowerCase();
    const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase();
    // The gateway asks for unencoded bodies; an encoded body it must inspect is refused, never relayed unfiltered.
    if (encoding !== 'identity' && (ctype.includes('text/event-stream') || ctype.includes('application/json'))) {
      drain(body);
      throw new GatewayError('upstream_unavailable', { detail: `MCP server ${def.name} sent an encoded body`, internal: { encoding } });
    }

    if (reply.status === 202 || !body || (Buffer.isBuffer(body) && body.length === 0)) {
      drain(body);
      if (plan.gatewayReplies.length) return { status: 200, headers: { ...headers, ...JSON_HEADERS }, body: Buffer.from(JSON.stringify(plan.gatewayReplies)) };
      return { status: reply.status, headers, body: null };
    }
    if (ctype.includes('text/event-stream')) {
      delete headers['content-encoding'];
      // A channel-backed session's reply that was complete before it was sent: rewritten whole, one write.
      if (Buffer.isBuffer(body)) return { status: reply.status, headers, body: rewriteSseBody(body, plan) };
      const src = body;
      const rw = new SseRewriter(plan);
      src.on('error', (e) => {
        const err = errors.mapError(e);
        this.deps.logger.debug({ server: def.name, code: err.code }, 'upstream event stream failed');
        rw.endWith(requestIds.map((id) => toJsonRpc(err, id) as JsonRpcResponse));
      });
      rw.on('close', () => src.destroy());
      src.pipe(rw);
      headers['cache-control'] ??= 'no-cache';
      headers['x-accel-buffering'] = 'no';
      return { status: reply.status, headers, body: rw };
    }
    if (ctype.includes('application/json')) {
      const needs = plan.listIds.size > 0 || plan.gatewayReplies.length > 0;
      if (!needs) return { status: reply.status, headers, body };
      delete headers['content-encoding'];
      const rewritten = (buf: Buffer): ProxyResponse => ({ status: reply.status, headers, body: rewriteJsonBody(buf, plan, batch) });
      if (Buffer.isBuffer(body)) return rewritten(body);
      return readBody(body, MAX_REWRITE_BODY).then(rewritten, (e: unknown) => {
        throw errors.mapError(e);
      });
    }
    return { status: reply.status, headers, body };
  }

  // ---------------------------------------------------------------- GET

  async get(req: ProxyRequest): Promise<ProxyResponse> {
    const t0 = performance.now();
    const drafts: AuditDraft[] = [];
    let res: ProxyResponse;
    try {
      res = await this.doGet(req, drafts);
    } catch (e) {
      res = this.errorResponse(e, null);
    }
    this.countUsage(req, req.server);
    this.record(req, req.server, drafts, res.status, t0);
    return res;
  }

  private async doGet(req: ProxyRequest, drafts: AuditDraft[]): Promise<ProxyResponse> {
    const def = this.serverDef(req.server);
    const session = await this.resolveSession(req, def);
    const groups = await this.deps.groups();
    const d = evaluate(req.caller, groups, { kind: 'session', server: def.name, method: 'GET' });
    drafts.push({ method: 'GET', tool: null, decision: d.allow ? 'allow' : 'deny', detail: { http: 'GET' } });
    if (!d.allow) throw this.denial(d, def.name);
    const plan: RewritePlan = { visibility: visibility(req.caller, groups, def.name), listIds: new Map(), byShape: true, gatewayReplies: [] };

    if (isVirtual(def)) {
      if (!session) throw new GatewayError('bad_request', { detail: 'Bad Request: Mcp-Session-Id header is required' });
      const reply = session.virtual!.openStream(req.signal);
      return this.relay(reply, plan, false, session, [], def);
    }
    const http = this.deps.upstreams.http(def as RemoteServerDef);
    const headers: Record<string, string> = {
      ...forwardableHeaders(req.headers),
      ...(await this.deps.upstreams.upstreamHeaders(def, req.caller.id)),
      accept: 'text/event-stream',
      'accept-encoding': 'identity',
    };
    if (session?.upstreamSessionId) headers['mcp-session-id'] = session.upstreamSessionId;
    const up = await this.timed(def.name, performance.now(), http.request({ method: 'GET', headers, signal: req.signal, stream: true }));
    if (up.status === 405) {
      up.body.resume();
      throw new GatewayError('method_not_allowed', { detail: `MCP server ${def.name} offers no server-to-client stream`, headers: { Allow: 'POST, DELETE' } });
    }
    return this.relay(up, plan, false, session, [], def, http);
  }

  // ---------------------------------------------------------------- DELETE

  async delete(req: ProxyRequest): Promise<ProxyResponse> {
    const t0 = performance.now();
    const drafts: AuditDraft[] = [{ method: 'DELETE', tool: null, decision: 'allow', detail: { http: 'DELETE' } }];
    let res: ProxyResponse;
    try {
      res = await this.doDelete(req);
    } catch (e) {
      res = this.errorResponse(e, null);
    }
    this.countUsage(req, req.server);
    this.record(req, req.server, drafts, res.status, t0);
    return res;
  }

  private async doDelete(req: ProxyRequest): Promise<ProxyResponse> {
    const def = this.serverDef(req.server);
    const session = await this.resolveSession(req, def);
    if (!session) throw new GatewayError('bad_request', { detail: 'Bad Request: Mcp-Session-Id header is required' });
    // Ending one's own session needs no grant: it only releases resources.
    if (!isVirtual(def) && session.upstreamSessionId) {
      const http = this.deps.upstreams.http(def as RemoteServerDef);
      const headers: Record<string, string> = {
        ...forwardableHeaders(req.headers),
        ...(await this.deps.upstreams.upstreamHeaders(def, req.caller.id)),
        'mcp-session-id': session.upstreamSessionId,
      };
      try {
        const up = await http.request({ method: 'DELETE', headers });
        up.body.resume();
      } catch (e) {
        this.deps.logger.debug({ server: def.name, err: e }, 'upstream session DELETE failed');
      }
    }
    await this.deps.sessions.end(session);
    return { status: 204, headers: {}, body: null };
  }
}

/** Discard an upstream body the client will not get. */
function drain(body: UpstreamReply['body']): void {
  if (body && !Buffer.isBuffer(body)) body.resume();
}

/** What a POST forwards once authorized, and how its reply is rewritten. */
class Forward {
  constructor(
    readonly messages: JsonRpcMessage[],
    readonly plan: RewritePlan,
    readonly requestIds: (string | number)[],
    readonly hasInit: boolean,
  ) {}
}

/** How an upstream's transport failures become gateway errors (the HTTP upstream maps its own: 502 / 504). */
interface ErrorMapper {
  mapError(e: unknown): GatewayError;
}
const AS_IS: ErrorMapper = { mapError: toGatewayError };

const NO_LIST_IDS: ReadonlyMap<string | number, string> = new Map();
const ALL_VISIBLE: Visibility = { all: true, tool: () => true, resource: () => true, template: () => true, prompt: () => true };
