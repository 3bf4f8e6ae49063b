/**
 * Presents a message channel (legacy SSE connection or stdio process) to the
 * client as a Streamable HTTP session. POSTed requests are written to the
 * channel and their responses, matched by JSON-RPC id, are returned as JSON
 * or as an SSE stream. Messages the upstream starts (sampling, elicitation,
 * logging, progress) go to the session's GET stream when one is open, else
 * to the newest open POST stream, else wait in a bounded queue.
 */
import { PassThrough, type Readable } from 'node:stream';
import { GatewayError, jsonRpcError, JSONRPC } from '../../errors/index.js';
import { isRequest, isResponse, type JsonRpcMessage, type JsonRpcResponse } from '../jsonrpc.js';
import { formatSseEvent } from '../sse.js';
import { type MessageChannel } from './channel.js';

export interface UpstreamReply {
  status: number;
  headers: Record<string, string>;
  /** A stream (SSE), a complete body (JSON), or nothing (202/204). */
  body: Readable | Buffer | null;
}

const MAX_QUEUED = 1_000;
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' };

/** One POST waiting for the responses to its requests (shared by the requests of a batch). */
interface Waiter {
  deliver(r: JsonRpcResponse): void;
  /** The session ended while it waited. */
  died(e: Error): void;
}

/**
 * A request in flight: the session-long `pending` map holds these shells, and
 * the waiter is cleared from the shell when the request leaves the map. A map
 * with a set and a delete per request reallocates its hash table now and then,
 * and a discarded table in the old generation still points at what it held
 * until the next full collection; through a cleared shell it reaches nothing
 * of the request.
 */
class InFlight {
  constructor(public waiter: Waiter | null) {}
}

/** Where server-to-client messages go: the GET stream or an open POST reply. */
interface Sink {
  write(m: JsonRpcMessage): void;
  end(): void;
}

interface StreamSink extends Sink {
  stream: PassThrough;
}

const sseEvent = (m: JsonRpcMessage): string => formatSseEvent({ event: 'message', data: JSON.stringify(m) });

/**
 * A POST's event-stream reply while it is being made. Events are gathered
 * until it is known whether the reply is whole: when every response arrives
 * before anything else (the usual case) the reply is one body, sent in one
 * write with no stream objects; the first event that does not complete it (a
 * server-to-client message, one response of a batch) turns it into a stream,
 * gathered events first.
 */
class PostReply implements Sink {
  private gathered = '';
  stream: PassThrough | null = null;
  private ended = false;

  /**
   * `onWrite` runs after each event. It is given here, once: a per-request
   * function assigned to a field of an existing instance would keep each whole
   * request alive into V8's old generation.
   */
  constructor(private readonly onWrite: () => void) {}

  write(m: JsonRpcMessage): void {
    if (this.ended) return;
    if (this.stream) this.stream.write(sseEvent(m));
    else this.gathered += sseEvent(m);
    this.onWrite();
  }

  toStream(): PassThrough {
    const s = (this.stream = new PassThrough());
    if (this.gathered) s.write(this.gathered);
    this.gathered = '';
    return s;
  }

  /** The whole reply (no stream was started); nothing more is written to it. */
  whole(): Buffer {
    this.ended = true;
    return Buffer.from(this.gathered);
  }

  end(): void {
    this.ended = true;
    this.stream?.end();
  }
}

export class VirtualSession {
  private readonly pending = new Map<string | number, InFlight>();
  private readonly postSinks: PostReply[] = [];
  private getSink: StreamSink | null = null;
  private queue: JsonRpcMessage[] = [];
  private dead: Error | null = null;
  lastActivity = Date.now();

  constructor(
    readonly channel: MessageChannel,
    private readonly opts: { server: string; timeoutMs: number; onClosed: (err?: Error) => void },
  ) {
    channel.onMessage = (m) => this.fromUpstream(m);
    channel.onClose = (err) => this.die(err ?? new Error('closed'));
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Busy sessions (a request in flight) are never reaped as idle. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Remove a request from the map; its waiter, which the shell no longer holds. */
  private untrack(id: string | number): Waiter | null {
    const f = this.pending.get(id);
    if (!f) return null;
    this.pending.delete(id);
    const w = f.waiter;
    f.waiter = null;
    return w;
  }

  private fromUpstream(m: JsonRpcMessage): void {
    this.lastActivity = Date.now();
    if (isResponse(m)) {
      const w = typeof m.id === 'string' || typeof m.id === 'number' ? this.untrack(m.id) : null;
      w?.deliver(m);
      return;
    }
    const sink = this.getSink ?? this.postSinks[this.postSinks.length - 1];
    if (sink) sink.write(m);
    else if (this.queue.length < MAX_QUEUED) this.queue.push(m);
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    const waiters: Waiter[] = [];
    for (const f of this.pending.values()) {
      if (f.waiter) waiters.push(f.waiter);
      f.waiter = null;
    }
    this.pending.clear();
    for (const w of waiters) w.died(err); // once per POST: a batch's waiter ignores the repeats
    this.getSink?.end();
    this.getSink = null;
    for (const s of this.postSinks.splice(0)) s.end();
    this.opts.onClosed(err);
  }

  private streamSink(): StreamSink {
    const stream = new PassThrough();
    return {
      stream,
      write: (m) => {
        if (!stream.writableEnded) stream.write(sseEvent(m));
      },
      end: () => stream.end(),
    };
  }

  /** Forward client messages; answer with the responses to its requests. */
  async post(messages: JsonRpcMessage[], batch: boolean, acceptSse: boolean, signal?: AbortSignal): Promise<UpstreamReply> {
    if (this.dead) throw new GatewayError('session_not_found', { detail: 'The MCP session has ended' });
    this.lastActivity = Date.now();
    const requests = messages.filter(isRequest);
    for (const r of requests) if (this.pending.has(r.id)) throw new GatewayError('invalid_jsonrpc', { detail: `Invalid Request: id ${String(r.id)} is already in flight` });

    const results = new Map<string | number, JsonRpcResponse>();
    let notify: () => void = () => {};
    /** Called once if the session dies while this POST waits (set below). */
    let onDeath: (e: Error) => void = () => {};
    let sink: PostReply | null = null;
    const died = (e: Error) => {
      const f = onDeath;
      onDeath = () => {};
      f(e);
    };
    const waiter: Waiter = {
      deliver: (res) => {
        results.set(res.id!, res);
        sink?.write(res);
        notify();
      },
      died,
    };
    for (const r of requests) this.pending.set(r.id, new InFlight(waiter));

    /** Take this POST's requests that are still waiting out of the map. */
    const cleanup = () => {
      for (const r of requests) if (this.pending.get(r.id)?.waiter === waiter) this.untrack(r.id);
    };
    try {
      for (const m of messages) await this.channel.send(JSON.stringify(m));
    } catch (e) {
      cleanup();
      throw e;
    }
    if (requests.length === 0) return { status: 202, headers: {}, body: null };

    const timeoutError = () => new GatewayError('upstream_timeout', { detail: `MCP server ${this.opts.server} did not answer in time` });

    if (!acceptSse) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(timeoutError());
        }, this.opts.timeoutMs);
        onDeath = () => {
          clearTimeout(timer);
          reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${this.opts.server} closed the session` }));
        };
        if (this.dead) died(this.dead); // it ended while the messages were being written
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          cleanup();
          reject(new GatewayError('upstream_unavailable', { detail: 'The client went away' }));
        });
        notify = () => {
          if (results.size === requests.length) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
      const ordered = requests.map((r) => results.get(r.id)!);
      const body = batch ? ordered : ordered[0];
      return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
    }

    // SSE: whole (one body) when every response comes first, else a stream from the first event
    // that does not complete the reply; a timeout before any event is a 504.
    let reply!: PostReply;
    const unlist = () => {
      const i = this.postSinks.indexOf(reply);
      if (i !== -1) this.postSinks.splice(i, 1);
    };
    const finish = () => {
      unlist();
      reply.end();
    };
    const streamed = await new Promise<boolean>((resolve, reject) => {
      const complete = () => results.size === requests.length;
      reply = new PostReply(() => {
        if (reply.stream || complete()) return; // a completing event is handled by notify
        reply.toStream().on('close', () => {
          cleanup();
          unlist();
        });
        resolve(true);
      });
      sink = reply;
      this.postSinks.push(reply);
      const timer = setTimeout(() => {
        const missing = requests.filter((r) => !results.has(r.id));
        cleanup();
        if (!reply.stream) {
          finish();
          reject(timeoutError());
          return;
        }
        for (const r of missing) reply.write(jsonRpcError(r.id, JSONRPC.UPSTREAM_TIMEOUT, `MCP server ${this.opts.server} did not answer in time`, { code: 'upstream_timeout' }));
        finish();
      }, this.opts.timeoutMs);
      onDeath = () => {
        clearTimeout(timer);
        if (!reply.stream) reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${this.opts.server} closed the session` }));
      };
      if (this.dead) died(this.dead);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        cleanup();
        finish();
        if (!reply.stream) reject(new GatewayError('upstream_unavailable', { detail: 'The client went away' }));
      });
      notify = () => {
        if (!complete()) return;
        clearTimeout(timer);
        if (reply.stream) finish();
        else {
          unlist();
          resolve(false);
        }
      };
      for (const m of results.values()) reply.write(m); // answered while being sent (part of a batch starts the stream)
      notify();
    });
    return { status: 200, headers: { ...SSE_HEADERS }, body: streamed ? reply.stream! : reply.whole() };
  }

  /** The session's GET stream (server-to-client messages). Replaces an older one. */
  openStream(signal?: AbortSignal): UpstreamReply {
    if (this.dead) throw new GatewayError('session_not_found', { detail: 'The MCP session has ended' });
    this.getSink?.end();
    const s = this.streamSink();
    this.getSink = s;
    s.stream.write(': stream open\n\n');
    const queued = this.queue;
    this.queue = [];
    for (const m of queued) s.write(m);
    const drop = () => {
      if (this.getSink === s) this.getSink = null;
    };
    s.stream.on('close', drop);
    signal?.addEventListener('abort', () => {
      drop();
      s.stream.end();
    });
    return { status: 200, headers: { ...SSE_HEADERS }, body: s.stream };
  }

  /** Send a single request and wait for its response (gateway's own use: discovery). */
  async request(id: string | number, method: string, params?: Record<string, unknown>): Promise<JsonRpcResponse> {
    const reply = await this.post([{ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }], false, false);
    return JSON.parse((reply.body as Buffer).toString('utf8')) as JsonRpcResponse;
  }

  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    await this.post([{ jsonrpc: '2.0', method, ...(params ? { params } : {}) }], false, false);
  }

  async close(): Promise<void> {
    await this.channel.close();
    this.die(new Error('closed'));
  }
}
