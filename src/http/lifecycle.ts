/**
 * Process lifecycle: readiness while shutting down, in-flight request
 * tracking, and the bounded HTTP drain run on SIGTERM.
 *
 * drain():
 *  1. marks the replica as shutting down (/readyz answers 503 so load
 *     balancers stop routing here) and runs the registered shutdown hooks
 *     (e.g. the proxy ending standalone SSE streams so clients reconnect
 *     elsewhere);
 *  2. ends standalone event streams still open (GET requests answered with
 *     text/event-stream: they never finish on their own);
 *  3. stops accepting connections and waits for in-flight requests;
 *  4. at the deadline, closes whatever connections remain.
 */
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type ShutdownHook = () => void | Promise<void>;

export interface DrainResult {
  /** Requests still running at the deadline whose connections were cut. */
  forced: number;
  /** Standalone event streams ended at the start of the drain. */
  streamsClosed: number;
  durationMs: number;
}

const kPrev = Symbol('portcullis.inflight.prev');
const kNext = Symbol('portcullis.inflight.next');
type Linked = ServerResponse & { [kPrev]?: Linked | null; [kNext]?: Linked | null };

/**
 * The responses in flight, as an intrusive doubly-linked list through
 * two fields on each response (previous, next); removal unlinks and clears
 * them. A response is in the list when it is the head or has a previous one.
 *
 * Not a Set: a long-lived Set with an add and a delete per request rehashes
 * into a fresh table every few dozen requests, and V8 links each obsolete
 * table to its successor. Once an obsolete table is in the old generation,
 * that link keeps the next (young) table alive through every scavenge — and
 * with it the responses in it and everything they reach — so nearly every
 * request would be copied into the old generation and freed only by the
 * next full collection.
 */
export class InflightList implements Iterable<ServerResponse> {
  private head: Linked | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  private has(r: Linked): boolean {
    return this.head === r || (r[kPrev] ?? null) !== null;
  }

  add(res: ServerResponse): void {
    const r = res as Linked;
    if (this.has(r)) return;
    r[kPrev] = null;
    r[kNext] = this.head;
    if (this.head) this.head[kPrev] = r;
    this.head = r;
    this.count++;
  }

  delete(res: ServerResponse): void {
    const r = res as Linked;
    if (!this.has(r)) return;
    const prev = r[kPrev] ?? null;
    const next = r[kNext] ?? null;
    if (prev) prev[kNext] = next;
    else this.head = next;
    if (next) next[kPrev] = prev;
    r[kPrev] = null;
    r[kNext] = null;
    this.count--;
  }

  /** A snapshot (newest first): safe to end responses while going through it. */
  [Symbol.iterator](): Iterator<ServerResponse> {
    const all: ServerResponse[] = [];
    for (let r = this.head; r; r = r[kNext] ?? null) all.push(r);
    return all[Symbol.iterator]();
  }
}

export class Lifecycle {
  private stopping = false;
  private readonly hooks: ShutdownHook[] = [];
  private readonly inflight = new InflightList();
  /** One shared listener (no closure per request); `this` is the response. */
  private readonly untrack = ((list: InflightList) =>
    function (this: ServerResponse) {
      list.delete(this);
    })(this.inflight);

  /** True from the start of shutdown: readiness fails, new work is refused. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** Run `fn` when shutdown starts (before the listener closes). */
  onShutdown(fn: ShutdownHook): void {
    this.hooks.push(fn);
  }

  /** Count the server's requests from arrival until their response is finished or aborted. */
  track(server: Server): void {
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      this.inflight.add(res);
      // `on`, not `once`: a response closes once, and `once` would wrap the listener for every request.
      res.on('close', this.untrack);
    });
  }

  /**
   * Drain: see the file comment. `closeServer` stops the listener and resolves
   * when every connection has ended (fastify's close); `server` is the raw
   * server whose remaining connections are cut at the deadline.
   */
  async drain(server: Server, closeServer: () => Promise<void>, timeoutMs: number, onHookError: (e: unknown) => void = () => {}): Promise<DrainResult> {
    const started = Date.now();
    this.stopping = true;
    for (const h of this.hooks) {
      try {
        await h();
      } catch (e) {
        onHookError(e);
      }
    }
    let streamsClosed = 0;
    for (const res of this.inflight) {
      if (res.req?.method === 'GET' && res.headersSent && isEventStream(res)) {
        streamsClosed++;
        res.end();
      }
    }
    let forced = 0;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        forced = this.inflight.size;
        server.closeAllConnections();
        resolve();
      }, Math.max(0, timeoutMs - (Date.now() - started)));
    });
    const closed = closeServer();
    // Idle keep-alive connections hold no request: close them now, and again as requests finish.
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
    try {
      await Promise.race([closed, deadline]);
      await closed;
    } finally {
      clearTimeout(timer);
      clearInterval(idleSweep);
    }
    return { forced, streamsClosed, durationMs: Date.now() - started };
  }
}

/**
 * Whether a response already sent is an event stream. Headers passed to
 * writeHead() are not visible through getHeader(), so the header block Node
 * wrote (`_header`) is consulted too.
 */
function isEventStream(res: ServerResponse): boolean {
  const type = res.getHeader('content-type');
  if (type !== undefined) return String(type).toLowerCase().startsWith('text/event-stream');
  const head = (res as unknown as { _header?: string | null })._header;
  return typeof head === 'string' && /\r\ncontent-type:[ \t]*text\/event-stream/i.test(head);
}
