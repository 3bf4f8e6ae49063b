/**
 * Rewriting upstream responses so callers only see what they may use:
 * list results are filtered, gateway-answered batch elements are merged in.
 * JSON bodies are rewritten whole; SSE streams are parsed incrementally and
 * only the events that must change are re-serialized.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors/index.js';
import { type Visibility } from '../policy/index.js';
import { type JsonRpcResponse } from './jsonrpc.js';
import { formatSseEvent, SseParser, type SseEvent } from './sse.js';

export const LIST_KEYS: Readonly<Record<string, string>> = {
  'tools/list': 'tools',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
  'prompts/list': 'prompts',
};

function keep(key: string, item: unknown, v: Visibility): boolean {
  if (!item || typeof item !== 'object') return false;
  const o = item as Record<string, unknown>;
  switch (key) {
    case 'tools':
      return typeof o.name === 'string' && v.tool(o.name);
    case 'resources':
      return typeof o.uri === 'string' && v.resource(o.uri);
    case 'resourceTemplates':
      return typeof o.uriTemplate === 'string' && v.template(o.uriTemplate);
    case 'prompts':
      return typeof o.name === 'string' && v.prompt(o.name);
  }
  return true;
}

/**
 * Filter one response in place when it answers a list request. `method` is
 * the list method when known (POST); undefined filters by result shape (GET
 * streams and resumed streams). Returns true when the message changed.
 */
export function filterResponse(m: JsonRpcResponse, v: Visibility, method?: string): boolean {
  if (v.all || !m.result || typeof m.result !== 'object') return false;
  const r = m.result as Record<string, unknown>;
  const keys = method ? [LIST_KEYS[method]].filter(Boolean) : Object.values(LIST_KEYS).filter((k) => Array.isArray(r[k]));
  let changed = false;
  for (const key of keys) {
    const items = r[key];
    if (!Array.isArray(items)) continue;
    const kept = items.filter((it) => keep(key, it, v));
    if (kept.length !== items.length) {
      r[key] = kept;
      changed = true;
    }
  }
  return changed;
}

export interface RewritePlan {
  /** Visibility for list results. */
  visibility: Visibility;
  /** Request ids of list requests in this exchange → method. Empty + byShape=false → nothing to filter. */
  listIds: ReadonlyMap<string | number, string>;
  /** Filter any response that looks like a list result (GET streams). */
  byShape: boolean;
  /** Responses the gateway itself answers (denied batch elements). */
  gatewayReplies: readonly JsonRpcResponse[];
}

function filterOne(m: unknown, plan: RewritePlan): boolean {
  if (!m || typeof m !== 'object' || 'method' in m) return false;
  const res = m as JsonRpcResponse;
  if (res.id === null || res.id === undefined) return false;
  const method = plan.listIds.get(res.id);
  if (method) return filterResponse(res, plan.visibility, method);
  if (plan.byShape) return filterResponse(res, plan.visibility);
  return false;
}

const nothingToRewrite = (plan: RewritePlan): boolean => plan.listIds.size === 0 && !plan.byShape && plan.gatewayReplies.length === 0;

/** Rewrite a complete JSON body. Returns the new bytes (or the original when unchanged). */
export function rewriteJsonBody(body: Buffer, plan: RewritePlan, batch: boolean): Buffer {
  if (nothingToRewrite(plan)) return body;
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    // fail closed: an answer the gateway cannot read is not relayed unfiltered
    throw new GatewayError('upstream_unavailable', { detail: 'The MCP server sent an unreadable response', internal: e });
  }
  let changed = false;
  const list = Array.isArray(v) ? v : [v];
  for (const m of list) if (filterOne(m, plan)) changed = true;
  if (plan.gatewayReplies.length) {
    return Buffer.from(JSON.stringify([...plan.gatewayReplies, ...list]));
  }
  if (!changed) return body;
  return Buffer.from(JSON.stringify(batch || Array.isArray(v) ? list : list[0]));
}

/** The events as relayed: byte-for-byte unless one carries a list result to filter. */
function rewriteSseEvents(events: readonly SseEvent[], plan: RewritePlan): string {
  let out = '';
  for (const ev of events) {
    if (ev.data !== undefined && ev.data.length > 1 && ev.data.charCodeAt(0) === 123 /* { */ && (plan.listIds.size || plan.byShape)) {
      let m: unknown;
      try {
        m = JSON.parse(ev.data);
      } catch {
        m = null;
      }
      if (m && filterOne(m, plan)) {
        out += formatSseEvent({ event: ev.event, id: ev.id, retry: ev.retry, data: JSON.stringify(m) });
        continue;
      }
    }
    out += ev.raw + '\n\n';
  }
  return out;
}

const gatewayEvents = (plan: RewritePlan): string => plan.gatewayReplies.map((r) => formatSseEvent({ event: 'message', data: JSON.stringify(r) })).join('');

/**
 * Rewrite a complete event-stream body (a channel-backed session's POST reply
 * that was whole before it was sent): the same filtering as SseRewriter, gateway
 * replies first. A trailing event without its blank line is dropped, as an
 * event-stream client would drop it at the end of the stream.
 */
export function rewriteSseBody(body: Buffer, plan: RewritePlan): Buffer {
  if (nothingToRewrite(plan)) return body;
  const parser = new SseParser();
  const out = gatewayEvents(plan) + rewriteSseEvents(parser.push(body), plan);
  return Buffer.from(out);
}

/**
 * An SSE relay: events pass through byte-for-byte unless they carry a list
 * result to filter; gateway replies are emitted first. When the upstream
 * stream fails, `onUpstreamError` may add final events (e.g. timeouts).
 */
export class SseRewriter extends Transform {
  private readonly parser = new SseParser();
  private started = false;

  constructor(private readonly plan: RewritePlan) {
    super();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const first = gatewayEvents(this.plan);
    if (first) this.push(first);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.start();
    let events;
    try {
      events = this.parser.push(chunk);
    } catch (e) {
      cb(e as Error);
      return;
    }
    const out = rewriteSseEvents(events, this.plan);
    if (out) this.push(out);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.start();
    cb();
  }

  /** Emit extra events (e.g. JSON-RPC errors) and end. */
  endWith(messages: readonly JsonRpcResponse[]): void {
    this.start();
    for (const m of messages) this.push(formatSseEvent({ event: 'message', data: JSON.stringify(m) }));
    this.push(null);
  }
}
