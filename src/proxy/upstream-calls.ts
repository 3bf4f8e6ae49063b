/**
 * The proxy's calls to an upstream, one per kind of request: a POST to a
 * remote server (the HTTP pool) or to a channel-backed session (stdio, legacy
 * SSE), a GET stream, the DELETE that ends an upstream session. Each sends
 * what was authorized, re-serialized, with the allowed client headers and the
 * upstream's own credentials, and hands back the upstream's reply for relay.
 * Sessions are opened here too (an `initialize`), within the caller's caps.
 */
import { performance } from 'node:perf_hooks';
import { isStdio, type RemoteServerDef, type ServerDef } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../errors/index.js';
import { type Forward } from './authorize.js';
import { forwardableHeaders } from './credentials.js';
import { serializeForward } from './jsonrpc.js';
import { type McpAudit } from './mcp-audit.js';
import { MAX_JSON_REPLY, type UpstreamReplyLike } from './relay.js';
import { SessionManager, type McpSession } from './sessions.js';
import { header, type ProxyLogger, type ProxyRequest } from './types.js';
import { type UpstreamManager } from './upstream-manager.js';
import { requestIdKey, sessionIdKey, withUpstreamIds } from './upstream-ids.js';

/** The key of the upstream ids of a session's requests, or of one request outside a session. */
export const idKeyOf = (session: McpSession | null): string => (session ? (session.idKey ??= sessionIdKey(session.id)) : requestIdKey());

/** An upstream's reply to a POST, the session it belongs to, and how the upstream's transport failures map to gateway errors. */
export interface UpstreamCall {
  reply: UpstreamReplyLike;
  session: McpSession | null;
  mapError: (e: unknown) => GatewayError;
}

const sessionRequired = () => new GatewayError('bad_request', { detail: 'Bad Request: Mcp-Session-Id header is required' });

export class UpstreamCalls {
  constructor(
    private readonly upstreams: UpstreamManager,
    private readonly sessions: SessionManager,
    private readonly audit: McpAudit,
  ) {}

  /** The request headers for a remote upstream: the allowed client headers, then the upstream's credentials. */
  private async headersFor(req: ProxyRequest, def: RemoteServerDef, session: McpSession | null): Promise<Record<string, string>> {
    const headers = await this.upstreams.upstreamHeaders(def, req.caller.id, forwardableHeaders(req.headers));
    if (session?.upstreamSessionId) headers['mcp-session-id'] = session.upstreamSessionId;
    return headers;
  }

  /**
   * POST the authorized messages to a remote server. A JSON reply is read
   * whole (it is checked before relay); an event stream is handed on. An
   * `initialize` answered 200 opens the gateway's session.
   */
  async postRemote(req: ProxyRequest, def: RemoteServerDef, session: McpSession | null, batch: boolean, fwd: Forward): Promise<UpstreamCall> {
    const opening = !session && fwd.hasInit;
    const release = opening ? await this.sessions.holdRoom(req.caller.id) : null;
    try {
      return await this.exchangeRemote(req, def, session, batch, fwd, opening);
    } finally {
      release?.();
    }
  }

  private async exchangeRemote(req: ProxyRequest, def: RemoteServerDef, session: McpSession | null, batch: boolean, fwd: Forward, opening: boolean): Promise<UpstreamCall> {
    const http = this.upstreams.http(def);
    const headers = await this.headersFor(req, def, session);
    headers['content-type'] = 'application/json';
    headers['accept-encoding'] = 'identity';
    // An initialize that opens a session is sent with the ids of the session it opens (its reply can be resumed there).
    const newId = opening ? SessionManager.newId() : null;
    const key = newId ? sessionIdKey(newId) : idKeyOf(session);
    const body = serializeForward(withUpstreamIds(fwd.messages, fwd.plan.pending, key), batch);
    const t0 = performance.now();
    let reply;
    try {
      reply = await http.exchange({ method: 'POST', headers, body, gather: MAX_JSON_REPLY, overflow: 'fail' });
    } finally {
      this.audit.observeUpstream(def.name, t0);
    }
    let s = session;
    if (opening && reply.status === 200) {
      const upstreamSid = reply.headers['mcp-session-id'];
      try {
        s = await this.sessions.create(def, req.caller.id, typeof upstreamSid === 'string' ? upstreamSid : null, null, newId ?? undefined);
      } catch (e) {
        if (!Buffer.isBuffer(reply.body)) reply.body.destroy();
        throw e;
      }
    }
    return { reply, session: s, mapError: (e) => http.mapError(e) };
  }

  /** POST to a channel-backed session (stdio, legacy SSE); an `initialize` without a session opens one. */
  async postVirtual(req: ProxyRequest, def: ServerDef, session: McpSession | null, batch: boolean, fwd: Forward): Promise<UpstreamCall> {
    let s = session;
    if (!s) {
      if (!fwd.hasInit) throw sessionRequired();
      s = await this.openVirtual(req, def);
    }
    const accept = header(req.headers, 'accept') ?? '';
    const t0 = performance.now();
    try {
      const reply = await s.virtual!.post(fwd.messages, batch, accept.includes('text/event-stream'), req.signal);
      return { reply, session: s, mapError: toGatewayError };
    } finally {
      this.audit.observeUpstream(def.name, t0);
    }
  }

  /** A new channel-backed session: within the caller's session cap, one process or legacy-SSE connection. */
  private async openVirtual(req: ProxyRequest, def: ServerDef): Promise<McpSession> {
    const release = await this.sessions.holdRoom(req.caller.id);
    try {
      let sid = '';
      const vs = await this.upstreams.openVirtual(def, req.caller.id, () => this.sessions.channelClosed(sid));
      try {
        const s = await this.sessions.create(def, req.caller.id, null, vs);
        sid = s.id;
        return s;
      } catch (e) {
        await vs.close().catch(() => {});
        throw e;
      }
    } finally {
      release();
    }
  }

  /** The session's server-to-client stream: the channel's own, or a GET on the remote server's stream pool. */
  async openStream(req: ProxyRequest, def: ServerDef, session: McpSession | null): Promise<{ reply: UpstreamReplyLike; mapError: (e: unknown) => GatewayError }> {
    if (isStdio(def) || def.transport === 'sse') {
      if (!session) throw sessionRequired();
      return { reply: session.virtual!.openStream(req.signal), mapError: toGatewayError };
    }
    const http = this.upstreams.http(def);
    const headers = await this.headersFor(req, def, session);
    headers.accept = 'text/event-stream';
    headers['accept-encoding'] = 'identity';
    const t0 = performance.now();
    let up;
    try {
      up = await http.request({ method: 'GET', headers, signal: req.signal, stream: true });
    } finally {
      this.audit.observeUpstream(def.name, t0);
    }
    if (up.status === 405) {
      up.body.resume();
      throw new GatewayError('method_not_allowed', { detail: `MCP server ${def.name} offers no server-to-client stream`, headers: { Allow: 'POST, DELETE' } });
    }
    return { reply: up, mapError: (e) => http.mapError(e) };
  }

  /** End the upstream side of a session: DELETE to a remote server (best effort); a channel closes with the session. */
  async endUpstreamSession(req: ProxyRequest, def: ServerDef, session: McpSession, logger: ProxyLogger): Promise<void> {
    if (isStdio(def) || def.transport === 'sse' || !session.upstreamSessionId) return;
    const http = this.upstreams.http(def);
    const headers = await this.headersFor(req, def, session);
    try {
      const up = await http.request({ method: 'DELETE', headers });
      up.body.resume();
    } catch (e) {
      logger.debug({ server: def.name, err: e }, 'upstream session DELETE failed');
    }
  }
}
