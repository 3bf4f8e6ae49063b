/**
 * Relaying an upstream event stream (text/event-stream): read with the
 * WHATWG parser of sse.ts, every event checked (reply-check.ts) and
 * re-serialized, so the client receives only events the gateway parsed and
 * admitted, in the form it wrote them.
 *
 * - An event of the default type (`message`) carries one JSON-RPC message or a
 *   batch, whatever its spacing or line breaks; its data is parsed, checked
 *   and written out again. Events of another type carry no MCP message: only
 *   their `id` is kept (resumption). Comment-only blocks are relayed as an
 *   empty comment (keep-alive).
 * - POST replies: a message that fails the check refuses the reply. Before
 *   anything was relayed the client gets 502; later, each request still
 *   unanswered gets a JSON-RPC error event and the stream ends.
 * - GET streams: an event that fails the check is dropped (logged at debug).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError, toJsonRpc } from '../errors/index.js';
import { JsonDepthError, parseJson } from '../lib/json.js';
import { type JsonRpcResponse } from './jsonrpc.js';
import { admitValue, MAX_REPLY_DEPTH, type ReplyPlan } from './reply-check.js';
import { formatSseEvent, SseParser, type SseEvent } from './sse.js';

export interface SseRelayLogger {
  debug(obj: object, msg: string): void;
}

/**
 * Before the first message is relayed, at most this much other output
 * (comments, ids) is held back: below the stream's buffer, so holding it never
 * stalls the relay (nothing reads it before the response starts).
 */
const HOLD_LIMIT = 8 * 1024;

type Verdict = { out: string; message: boolean } | { refused: string };

/** What one parsed event becomes on the way to the client. */
export function relayEvent(ev: SseEvent, plan: ReplyPlan): Verdict {
  if (ev.comment) return { out: ':\n\n', message: false };
  const isMessage = ev.event === undefined || ev.event === '' || ev.event === 'message';
  if (ev.data === undefined || ev.data === '' || !isMessage) return { out: fieldsOnly(ev), message: false };
  let value: unknown;
  try {
    value = parseJson(ev.data, MAX_REPLY_DEPTH);
  } catch (e) {
    return { refused: e instanceof JsonDepthError ? 'an event nested too deeply' : 'an event whose data is not JSON' };
  }
  const why = admitValue(value, plan);
  if (why) return { refused: why };
  return { out: formatSseEvent({ event: ev.event, id: ev.id, retry: ev.retry, data: JSON.stringify(value) }), message: true };
}

/** The `id` and `retry` of an event whose data is not relayed ('' when it has neither). */
function fieldsOnly(ev: SseEvent): string {
  let s = '';
  if (ev.id !== undefined) s += `id: ${ev.id}\n`;
  if (ev.retry !== undefined) s += `retry: ${ev.retry}\n`;
  return s ? s + '\n' : '';
}

const gatewayEvents = (replies: readonly JsonRpcResponse[]): string => replies.map((r) => formatSseEvent({ event: 'message', data: JSON.stringify(r) })).join('');

export const refusedReply = (server: string, why: string) =>
  new GatewayError('upstream_unavailable', { detail: `MCP server ${server} sent a reply the gateway refuses to relay`, internal: { reason: why } });

/**
 * Check a whole event-stream body (a channel-backed session's reply, complete
 * before it is sent). Returns the body to relay, gateway replies first; throws
 * 502 when a message is refused. A trailing event without its blank line is
 * dropped, as a client would drop it at the end of the stream.
 */
export function relaySseBody(body: Buffer, plan: ReplyPlan, server: string): Buffer {
  let out = gatewayEvents(plan.gatewayReplies);
  let events: SseEvent[];
  try {
    events = new SseParser().push(body);
  } catch {
    throw refusedReply(server, 'an event too large');
  }
  for (const ev of events) {
    const v = relayEvent(ev, plan);
    if ('refused' in v) throw refusedReply(server, v.refused);
    out += v.out;
  }
  return Buffer.from(out);
}

/**
 * The relay of a streamed event-stream reply, reading `source`. For a POST,
 * `ready` settles when the first message was admitted (the response can
 * start) or rejects with 502 when the first one is refused; for a GET stream
 * it is settled at once. The source is destroyed when the relay ends early or
 * the client goes away; a source failure (`mapError`) ends the relay as a
 * refusal does.
 */
export class SseRelay extends Transform {
  readonly ready: Promise<void>;
  private readonly parser = new SseParser();
  private settle!: (e?: GatewayError) => void;
  private started = false;
  private ended = false;
  private held = 0;

  constructor(
    private readonly source: NodeJS.ReadableStream & { destroy(): void },
    private readonly plan: ReplyPlan,
    private readonly server: string,
    private readonly logger: SseRelayLogger,
    mapError: (e: unknown) => GatewayError,
  ) {
    super();
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (e) => (e ? reject(e) : resolve());
    });
    this.ready.catch(() => {}); // observed by the caller; never an unhandled rejection
    if (plan.mode === 'stream') this.start();
    source.on('error', (e) => {
      const err = mapError(e);
      this.logger.debug({ server, code: err.code }, 'upstream event stream failed');
      this.endWith(err);
    });
    this.on('close', () => source.destroy());
    source.pipe(this);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const first = gatewayEvents(this.plan.gatewayReplies);
    if (first) this.push(first);
    this.settle();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.ended) return cb();
    let events: SseEvent[];
    try {
      events = this.parser.push(chunk);
    } catch {
      this.refuse('an event too large');
      return cb();
    }
    let out = '';
    for (const ev of events) {
      const v = relayEvent(ev, this.plan);
      if ('out' in v) {
        if (v.message) this.start();
        out += v.out;
        continue;
      }
      if (this.plan.mode === 'stream') {
        this.logger.debug({ server: this.server, reason: v.refused }, 'dropped an event of an upstream stream');
        continue;
      }
      if (out) this.push(out);
      this.refuse(v.refused);
      return cb();
    }
    if (out) {
      this.held += out.length;
      if (!this.started && this.held > HOLD_LIMIT) this.start();
      this.push(out);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.ended) this.start();
    cb();
  }

  /** A POST reply carried a message the gateway refuses: 502 before the response started, else error events and the end. */
  private refuse(why: string): void {
    this.endWith(refusedReply(this.server, why));
  }

  /**
   * End the relay because of `err` (a refused message, or the upstream stream
   * failing): before the response started, `ready` rejects with it; after,
   * every request still unanswered gets it as a JSON-RPC error event.
   */
  endWith(err: GatewayError): void {
    if (this.ended) return;
    this.ended = true;
    this.source.unpipe(this);
    this.source.destroy();
    if (!this.started) {
      this.settle(err);
      queueMicrotask(() => this.destroy());
      return;
    }
    for (const [id, exp] of this.plan.pending) this.push(formatSseEvent({ event: 'message', data: JSON.stringify(toJsonRpc(err, exp.clientId ?? id)) }));
    this.plan.pending.clear();
    this.push(null);
    this.end();
  }
}
