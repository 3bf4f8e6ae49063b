/**
 * Raw HTTP over a socket, for tests that need a request to stay in flight
 * (headers sent, body trickled) or to see a refused connection.
 */
import { connect, type Socket } from 'node:net';

export interface SlowRequest {
  socket: Socket;
  /** Send the rest of the body. */
  finish(): void;
  /** Everything the server sent, once it closed the connection or sent a full response. */
  response: Promise<{ status: number; raw: string }>;
}

/** Open a request whose body is sent only partly until `finish()`. */
export function slowRequest(port: number, method: string, path: string, body: string, firstBytes = 1): Promise<SlowRequest> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const response = new Promise<{ status: number; raw: string }>((res) => {
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        raw += d;
        const head = raw.indexOf('\r\n\r\n');
        const len = /\r\ncontent-length: *(\d+)/i.exec(raw);
        if (head !== -1 && len && raw.length - head - 4 >= Number(len[1])) res({ status: Number(raw.slice(9, 12)), raw });
      });
      socket.on('close', () => res({ status: raw ? Number(raw.slice(9, 12)) : 0, raw }));
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n` +
          body.slice(0, firstBytes),
      );
      resolve({ socket, finish: () => socket.write(body.slice(firstBytes)), response });
    });
  });
}

/** Resolves true when a TCP connection to the port is refused. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/**
 * A local port that refuses connections, and keeps refusing: one below the
 * ephemeral range, checked to refuse now. (A port freed after `listen(0)`
 * can be handed to another test file's server, running in parallel, before
 * it is used.)
 */
export async function refusingPort(): Promise<number> {
  for (const port of [1, 9, 47, 99, 199, 1023]) if (await connectionRefused(port)) return port;
  throw new Error('no local port below the ephemeral range refuses connections');
}

export interface RawResponse {
  status: number;
  /** Header names in lower case (the last value of a repeated header). */
  headers: Record<string, string>;
  body: string;
  /** The socket, still open unless the server closed it. */
  socket: Socket;
}

/** Parse the first complete response in `raw` (Content-Length framing; no body after HEAD); null while incomplete. */
function parseResponse(raw: Buffer, socket: Socket, head: boolean): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = head ? 0 : Number(headers['content-length'] ?? 0);
  if (raw.length - end - 4 < length) return null;
  return { status: Number(lines[0].slice(9, 12)), headers, body: raw.subarray(end + 4, end + 4 + length).toString('utf8'), socket };
}

/**
 * Write `request` (a whole raw HTTP/1.1 message, or its first part) on a new
 * connection and resolve with the first response. Rejects when none has
 * arrived within `ms` (the server held the request) or the connection closed
 * without one.
 */
export function rawRoundTrip(port: number, request: string | Buffer, ms = 5_000): Promise<RawResponse> {
  const head = (typeof request === 'string' ? request : request.toString('latin1', 0, 5)).startsWith('HEAD ');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${ms} ms`));
    }, ms);
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      const r = parseResponse(raw, socket, head);
      if (r) {
        clearTimeout(timer);
        resolve(r);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`connection closed without a response (${raw.length} bytes read)`));
    });
    socket.once('error', () => {});
    socket.once('connect', () => socket.write(request));
  });
}

/** Resolves with the milliseconds until the socket closes; rejects after `ms`. */
export function closedWithin(socket: Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}
