import { type JsonRpcMessage } from '../jsonrpc.js';

/**
 * A bidirectional JSON-RPC message pipe to one upstream session: a legacy
 * HTTP+SSE connection or a stdio child process. The gateway presents it to
 * clients as a Streamable HTTP session (see virtual-session.ts).
 */
export interface MessageChannel {
  /** Deliver one serialized JSON-RPC message (or batch) upstream. */
  send(message: string): Promise<void>;
  /** Set by the owner: every message the upstream sends. */
  onMessage: (m: JsonRpcMessage) => void;
  /** Set by the owner: the channel ended (process exit, stream closed). */
  onClose: (err?: Error) => void;
  readonly closed: boolean;
  /** End the channel (graceful, then forced). Idempotent. */
  close(): Promise<void>;
}

export interface ChannelLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Split a stream of text into lines, with a bound on the pending line. */
export class LineSplitter {
  private buf = '';
  constructor(private readonly maxLine: number) {}

  push(text: string, onLine: (line: string, truncated: boolean) => void): void {
    let start = 0;
    const all = this.buf + text;
    for (let i = all.indexOf('\n'); i !== -1; i = all.indexOf('\n', start)) {
      let line = all.slice(start, i);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      onLine(line, false);
      start = i + 1;
    }
    this.buf = all.slice(start);
    if (this.buf.length > this.maxLine) {
      onLine(this.buf, true);
      this.buf = '';
    }
  }

  flush(onLine: (line: string, truncated: boolean) => void): void {
    if (this.buf) onLine(this.buf, false);
    this.buf = '';
  }
}
