/**
 * Writing the MCP endpoint's answers onto node:http's response: the proxy's
 * reply (a buffer, a JSON stream gathered into one write, or an event
 * stream relayed with backpressure) and refusals as JSON-RPC error bodies.
 */
import { type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { toGatewayError, toJsonRpc, type GatewayError } from '../errors/index.js';
import { MAX_GATHERED_REPLY, type ProxyResponse } from '../proxy/mcp-proxy.js';
import { rateLimitHeaders, type RateState } from '../ratelimit/index.js';

const JSON_CT = 'application/json';

/** Write the proxy's reply, with the RateLimit-* headers of the tightest budget applied. */
export async function sendProxyResponse(res: ServerResponse, r: ProxyResponse, rate: RateState | null): Promise<void> {
  const headers: Record<string, string | number> = rate ? { ...r.headers, ...rateLimitHeaders(rate) } : r.headers;
  const b = r.body;
  if (!(b instanceof Readable)) {
    if (b) headers['content-length'] = b.length;
    res.writeHead(r.status, headers);
    res.end(b ?? undefined);
    return;
  }
  const ctype = String(r.headers['content-type'] ?? '');
  // Small JSON replies go out in one write; larger ones and event streams stream.
  if (ctype.startsWith(JSON_CT)) {
    await sendGathered(res, r.status, headers, b);
    return;
  }
  res.writeHead(r.status, headers);
  res.flushHeaders();
  pipeInto(b, res);
}

/** A refusal as a JSON-RPC error body (MCP clients expect one), with the error's status and headers. */
export function sendJsonRpcError(res: ServerResponse, err: GatewayError, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify(toJsonRpc(err, null));
  res.writeHead(err.status, { ...extraHeaders, ...err.headers, 'content-type': JSON_CT, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function sendGathered(res: ServerResponse, status: number, headers: Record<string, string | number>, b: Readable): Promise<void> {
  let got: Collected;
  try {
    got = await collect(b, MAX_GATHERED_REPLY);
  } catch (e) {
    if (!res.headersSent && !res.destroyed) throw toGatewayError(e);
    res.destroy();
    return;
  }
  if (!got.overflow) {
    headers['content-length'] = got.size;
    res.writeHead(status, headers);
    res.end(got.chunks.length === 1 ? got.chunks[0] : Buffer.concat(got.chunks, got.size));
    return;
  }
  res.writeHead(status, headers);
  for (const c of got.chunks) res.write(c);
  pipeInto(b, res);
}

interface Collected {
  chunks: Buffer[];
  size: number;
  /** More than `cap` bytes: collection stopped with the stream paused. */
  overflow: boolean;
}

/** Gather a body up to `cap` bytes. */
function collect(body: Readable, cap: number): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > cap) {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', reject);
        body.pause();
        resolve({ chunks, size, overflow: true });
      }
    };
    const onEnd = () => {
      body.off('error', reject);
      resolve({ chunks, size, overflow: false });
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', reject);
  });
}

/**
 * Stream `body` into the response with backpressure. A response ended
 * elsewhere (the drain ends open event streams) is written no more, as
 * `pipe` stops at 'finish': a write after end is an 'error' on a
 * ServerResponse. Its 'close' — the client went away, or the stream ended —
 * releases the body.
 */
function pipeInto(body: Readable, res: ServerResponse): void {
  const resume = () => body.resume();
  body.on('data', (c: Buffer) => {
    if (res.writableEnded) body.pause();
    else if (!res.write(c)) body.pause();
  });
  body.on('end', () => {
    res.off('drain', resume);
    if (!res.writableEnded) res.end();
  });
  body.on('error', () => res.destroy());
  res.on('drain', resume);
  res.once('close', () => body.destroy());
  // collect() may have left it paused at the gathering cap.
  body.resume();
}
