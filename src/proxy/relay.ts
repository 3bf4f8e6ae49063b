/**
 * An upstream's reply → the client's response. Failures of the upstream
 * become 502 / 404; a body is relayed only as JSON or as an event stream, each
 * message checked against what the request may receive (reply-check.ts) and
 * re-serialized. A body the gateway cannot read (another content type, an
 * encoding, bad JSON) is refused with 502, never relayed unread.
 */
import { type Readable } from 'node:stream';
import { GatewayError } from '../errors/index.js';
import { JsonDepthError, parseJson } from '../lib/json.js';
import { RELAYED_RESPONSE_HEADERS } from './credentials.js';
import { admitValue, MAX_REPLY_DEPTH, type ReplyPlan } from './reply-check.js';
import { type McpSession } from './sessions.js';
import { refusedReply, relaySseBody, SseRelay, type SseRelayLogger } from './sse-relay.js';
import { readBody } from './upstreams/http.js';
import { jsonResponse, JSON_HEADERS, type ProxyResponse } from './types.js';

/** Largest JSON reply the gateway reads (every JSON reply is read whole and checked). */
export const MAX_JSON_REPLY = 64 * 1024 * 1024;

export interface UpstreamReplyLike {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** A whole body, a stream, or nothing. */
  body: Buffer | Readable | null;
}

export interface RelayContext {
  server: string;
  plan: ReplyPlan;
  /** The gateway session the reply belongs to (its id goes to the client; an upstream 404 ends it). */
  session: McpSession | null;
  endSession(s: McpSession): Promise<void>;
  logger: SseRelayLogger;
  /** How the upstream's transport failures become gateway errors (502 / 504). */
  mapError(e: unknown): GatewayError;
}

const SSE = 'text/event-stream';
const JSON_TYPE = 'application/json';

/** The media type of a Content-Type value, lower-cased, without parameters. */
function mediaType(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v[0] : (v ?? '');
  const semi = s.indexOf(';');
  return (semi === -1 ? s : s.slice(0, semi)).trim().toLowerCase();
}

/** Discard a body the client will not get. */
function drain(body: UpstreamReplyLike['body']): void {
  if (body && !Buffer.isBuffer(body)) body.resume();
}

function failures(reply: UpstreamReplyLike, ctx: RelayContext): GatewayError | 'session-ended' | null {
  const s = reply.status;
  if (s === 401 || s === 403)
    return new GatewayError('upstream_unavailable', { detail: `MCP server ${ctx.server} refused the gateway's credentials`, internal: { status: s } });
  if (s === 404 && ctx.session) return 'session-ended';
  if (s >= 500) return new GatewayError('upstream_unavailable', { detail: `MCP server ${ctx.server} failed (HTTP ${s})`, internal: { status: s } });
  return null;
}

export async function relay(reply: UpstreamReplyLike, ctx: RelayContext): Promise<ProxyResponse> {
  const body = reply.body;
  const failure = failures(reply, ctx);
  if (failure) {
    drain(body);
    if (failure !== 'session-ended') throw failure;
    await ctx.endSession(ctx.session!);
    throw new GatewayError('session_not_found', { detail: 'Session not found (ended by the MCP server)' });
  }
  const headers: Record<string, string> = {};
  for (const k of RELAYED_RESPONSE_HEADERS) {
    const v = reply.headers[k];
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  if (ctx.session) headers['mcp-session-id'] = ctx.session.id;
  const { plan } = ctx;

  if (reply.status === 202 || reply.status === 204 || !body || (Buffer.isBuffer(body) && body.length === 0)) {
    drain(body);
    if (plan.gatewayReplies.length) return jsonResponse(200, plan.gatewayReplies, headers);
    return { status: reply.status, headers, body: null };
  }
  const encoding = reply.headers['content-encoding'];
  if (encoding !== undefined && String(encoding).trim().toLowerCase() !== 'identity') {
    drain(body);
    throw new GatewayError('upstream_unavailable', { detail: `MCP server ${ctx.server} sent an encoded body`, internal: { encoding } });
  }
  const media = mediaType(reply.headers['content-type']);
  if (media === SSE) {
    headers['content-type'] = SSE;
    headers['cache-control'] ??= 'no-cache';
    if (Buffer.isBuffer(body)) return { status: reply.status, headers, body: relaySseBody(body, plan, ctx.server) };
    headers['x-accel-buffering'] = 'no';
    const relayed = new SseRelay(body, plan, ctx.server, ctx.logger, ctx.mapError);
    await relayed.ready;
    return { status: reply.status, headers, body: relayed };
  }
  if (media === JSON_TYPE) {
    let whole: Buffer;
    try {
      whole = Buffer.isBuffer(body) ? body : await readBody(body, MAX_JSON_REPLY);
    } catch (e) {
      throw ctx.mapError(e);
    }
    return { status: reply.status, headers: { ...headers, ...JSON_HEADERS }, body: relayJsonBody(whole, plan, reply.status, ctx.server) };
  }
  drain(body);
  throw refusedReply(ctx.server, `a body of type ${media.slice(0, 64) || '(none)'}`);
}

/**
 * Check a whole JSON reply (one message or a batch) and re-serialize it,
 * gateway replies first. An error with `id: null` is relayed only in a 4xx
 * reply (the upstream refused the whole request).
 */
export function relayJsonBody(body: Buffer, plan: ReplyPlan, status: number, server: string): Buffer {
  let v: unknown;
  try {
    v = parseJson(body, MAX_REPLY_DEPTH);
  } catch (e) {
    throw refusedReply(server, e instanceof JsonDepthError ? 'JSON nested too deeply' : 'a body that is not JSON');
  }
  const why = admitValue(v, plan, status >= 400 && status < 500);
  if (why) throw refusedReply(server, why);
  const out = plan.gatewayReplies.length ? [...plan.gatewayReplies, ...(Array.isArray(v) ? v : [v])] : v;
  return Buffer.from(JSON.stringify(out));
}
