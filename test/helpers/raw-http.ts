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
