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

interface Pending {
  deliver(r: JsonRpcResponse): void;
}

interface Sink {
  stream: PassThrough;
  write(m: JsonRpcMessage): void;
  /** Called after every write (used to start a POST reply on its first event). */
  onWrite?: () => void;
}

export class VirtualSession {
  private readonly pending = new Map<string | number, Pending>();
  private readonly postSinks: Sink[] = [];
  private getSink: Sink | null = null;
  private queue: JsonRpcMessage[] = [];
  private dead: Error | null = null;
  private readonly deathHandlers = new Set<(e: Error) => void>();
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

  private fromUpstream(m: JsonRpcMessage): void {
    this.lastActivity = Date.now();
    if (isResponse(m)) {
      const p = m.id !== null ? this.pending.get(m.id) : undefined;
      if (p) {
        this.pending.delete(m.id!);
        p.deliver(m);
      }
      return;
    }
    const sink = this.getSink ?? this.postSinks[this.postSinks.length - 1];
    if (sink) sink.write(m);
    else if (this.queue.length < MAX_QUEUED) this.queue.push(m);
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const h of this.deathHandlers) h(err);
    this.deathHandlers.clear();
    this.pending.clear();
    this.getSink?.stream.end();
    this.getSink = null;
    for (const s of this.postSinks.splice(0)) s.stream.end();
    this.opts.onClosed(err);
  }

  private sseSink(): Sink {
    const stream = new PassThrough();
    const sink: Sink = {
      stream,
      write: (m) => {
        if (stream.writableEnded) return;
        stream.write(formatSseEvent({ event: 'message', data: JSON.stringify(m) }));
        sink.onWrite?.();
      },
    };
    return sink;
  }

  /** Forward client messages; answer with the responses to its requests. */
  async post(messages: JsonRpcMessage[], batch: boolean, acceptSse: boolean, signal?: AbortSignal): Promise<UpstreamReply> {
    if (this.dead) throw new GatewayError('session_not_found', { detail: 'The MCP session has ended' });
    this.lastActivity = Date.now();
    const requests = messages.filter(isRequest);
    for (const r of requests) if (this.pending.has(r.id)) throw new GatewayError('invalid_jsonrpc', { detail: `Invalid Request: id ${String(r.id)} is already in flight` });

    const results = new Map<string | number, JsonRpcResponse>();
    let notify: () => void = () => {};
    let sink: Sink | null = null;
    for (const r of requests)
      this.pending.set(r.id, {
        deliver: (res) => {
          results.set(r.id, res);
          sink?.write(res);
          notify();
        },
      });

    try {
      for (const m of messages) await this.channel.send(JSON.stringify(m));
    } catch (e) {
      for (const r of requests) this.pending.delete(r.id);
      throw e;
    }
    if (requests.length === 0) return { status: 202, headers: {}, body: null };

    const timeoutError = () => new GatewayError('upstream_timeout', { detail: `MCP server ${this.opts.server} did not answer in time` });
    const cleanup = () => {
      for (const r of requests) this.pending.delete(r.id);
    };

    if (!acceptSse) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(timeoutError());
        }, this.opts.timeoutMs);
        const onDeath = () => {
          clearTimeout(timer);
          reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${this.opts.server} closed the session` }));
        };
        this.deathHandlers.add(onDeath);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          cleanup();
          this.deathHandlers.delete(onDeath);
          reject(new GatewayError('upstream_unavailable', { detail: 'The client went away' }));
        });
        notify = () => {
          if (results.size === requests.length) {
            clearTimeout(timer);
            this.deathHandlers.delete(onDeath);
            resolve();
          }
        };
        notify();
      });
      const ordered = requests.map((r) => results.get(r.id)!);
      const body = batch ? ordered : ordered[0];
      return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
    }

    // SSE: the reply starts with the first event; a timeout before it is a 504.
    const s = this.sseSink();
    sink = s;
    this.postSinks.push(s);
    const finish = () => {
      const i = this.postSinks.indexOf(s);
      if (i !== -1) this.postSinks.splice(i, 1);
      s.stream.end();
    };
    s.stream.on('close', () => {
      cleanup();
      const i = this.postSinks.indexOf(s);
      if (i !== -1) this.postSinks.splice(i, 1);
    });
    signal?.addEventListener('abort', () => {
      cleanup();
      finish();
    });
    for (const m of results.values()) s.write(m);
    await new Promise<void>((resolve, reject) => {
      let started = results.size > 0;
      const timer = setTimeout(() => {
        const missing = requests.filter((r) => !results.has(r.id));
        cleanup();
        if (!started) {
          finish();
          reject(timeoutError());
          return;
        }
        for (const r of missing) s.write(jsonRpcError(r.id, JSONRPC.UPSTREAM_TIMEOUT, `MCP server ${this.opts.server} did not answer in time`, { code: 'upstream_timeout' }));
        finish();
      }, this.opts.timeoutMs);
      const onDeath = () => {
        clearTimeout(timer);
        if (!started) reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${this.opts.server} closed the session` }));
      };
      this.deathHandlers.add(onDeath);
      notify = () => {
        if (!started) {
          started = true;
          resolve();
        }
        if (results.size === requests.length) {
          clearTimeout(timer);
          this.deathHandlers.delete(onDeath);
          finish();
        }
      };
      // server-to-client messages written to this stream also start it
      s.onWrite = () => {
        if (!started) {
          started = true;
          resolve();
        }
      };
      if (started) notify();
    });
    return { status: 200, headers: { ...SSE_HEADERS }, body: s.stream };
  }

  /** The session's GET stream (server-to-client messages). Replaces an older one. */
  openStream(signal?: AbortSignal): UpstreamReply {
    if (this.dead) throw new GatewayError('session_not_found', { detail: 'The MCP session has ended' });
    this.getSink?.stream.end();
    const s = this.sseSink();
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
