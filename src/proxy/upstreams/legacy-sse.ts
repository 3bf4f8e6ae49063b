/**
 * A legacy HTTP+SSE (protocol 2024-11-05) upstream session: GET the SSE
 * endpoint, read the `endpoint` event, POST each message to that URL, and
 * receive every response and server message on the event stream. The gateway
 * demultiplexes them by JSON-RPC id (virtual-session.ts) and presents the
 * session downstream as Streamable HTTP.
 */
import { type Readable } from 'node:stream';
import { GatewayError } from '../../errors/index.js';
import { parseJson } from '../../lib/json.js';
import { type JsonRpcMessage } from '../jsonrpc.js';
import { MAX_REPLY_DEPTH } from '../reply-check.js';
import { SseParser } from '../sse.js';
import { type ChannelLogger, type MessageChannel } from './channel.js';
import { readBody, type HttpUpstream } from './http.js';

export class LegacySseChannel implements MessageChannel {
  onMessage: (m: JsonRpcMessage) => void = () => {};
  onClose: (err?: Error) => void = () => {};
  private ended = false;

  private constructor(
    private readonly http: HttpUpstream,
    private readonly endpointPath: string,
    private readonly headers: Record<string, string>,
    private readonly stream: Readable,
    private readonly abort: AbortController,
    private readonly logger: ChannelLogger,
  ) {}

  /** Open the event stream and wait for the `endpoint` event (bounded by the server timeout). */
  static async open(http: HttpUpstream, headers: Record<string, string>, logger: ChannelLogger): Promise<LegacySseChannel> {
    const abort = new AbortController();
    const res = await http.request({ method: 'GET', headers: { ...headers, accept: 'text/event-stream' }, signal: abort.signal, stream: true });
    if (res.status !== 200 || !String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
      res.body.resume();
      throw new GatewayError('upstream_unavailable', { detail: `MCP server ${http.def.name} did not open an event stream`, internal: { status: res.status } });
    }
    const parser = new SseParser();
    const base = new URL(http.def.url);
    let channel: LegacySseChannel | null = null;
    const early: JsonRpcMessage[] = [];
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new GatewayError('upstream_timeout', { detail: `MCP server ${http.def.name} sent no endpoint event` }));
        abort.abort();
        res.body.destroy();
      }, http.def.timeout);
      let resolved = false;
      res.body.on('data', (chunk: Buffer) => {
        let events;
        try {
          events = parser.push(chunk);
        } catch (e) {
          res.body.destroy(e as Error);
          return;
        }
        for (const ev of events) {
          if (!resolved && ev.event === 'endpoint' && ev.data) {
            let target: URL;
            try {
              target = new URL(ev.data.trim(), base);
            } catch {
              continue;
            }
            clearTimeout(timer);
            resolved = true;
            if (target.origin !== base.origin) {
              reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${http.def.name} announced a cross-origin endpoint` }));
              res.body.destroy();
              return;
            }
            resolve(target.pathname + target.search);
          } else if ((ev.event === undefined || ev.event === 'message') && ev.data) {
            let m: unknown;
            try {
              m = parseJson(ev.data, MAX_REPLY_DEPTH);
            } catch {
              logger.debug({ server: http.def.name }, 'legacy SSE upstream sent a non-JSON message (or one nested too deeply)');
              continue;
            }
            const list = (Array.isArray(m) ? m : [m]) as JsonRpcMessage[];
            if (channel) for (const x of list) channel.onMessage(x);
            else early.push(...list);
          }
        }
      });
      const onEnd = (err?: Error) => {
        clearTimeout(timer);
        if (!resolved) {
          resolved = true;
          reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${http.def.name} closed the event stream`, internal: err }));
        }
        channel?.finish(err ?? new Error('event stream ended'));
      };
      res.body.once('end', () => onEnd());
      res.body.once('error', (e) => onEnd(e));
      res.body.once('close', () => onEnd());
    });
    channel = new LegacySseChannel(http, endpoint, headers, res.body, abort, logger);
    queueMicrotask(() => {
      for (const m of early) channel!.onMessage(m);
    });
    return channel;
  }

  get closed(): boolean {
    return this.ended;
  }

  async send(message: string): Promise<void> {
    if (this.ended) throw new GatewayError('upstream_unavailable', { detail: `MCP server ${this.http.def.name} closed the session` });
    const res = await this.http.request({
      method: 'POST',
      path: this.endpointPath,
      headers: { ...this.headers, 'content-type': 'application/json' },
      body: message,
    });
    const body = await readBody(res.body, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.status < 200 || res.status >= 300) {
      this.logger.debug({ server: this.http.def.name, status: res.status, body: body.toString('utf8').slice(0, 200) }, 'legacy SSE upstream refused a message');
      throw new GatewayError('upstream_unavailable', { detail: `MCP server ${this.http.def.name} refused the message`, internal: { status: res.status } });
    }
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose(err);
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    this.stream.destroy();
    this.onClose();
  }
}
