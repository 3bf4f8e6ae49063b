/**
 * Request bodies: read bounded, parsed bounded, and refused without
 * resetting the client.
 *
 *   - readBody: the raw bytes of a body (the /mcp endpoint), 413 as soon as
 *     the declared or received size passes the limit, never buffered past it;
 *   - jsonBodyParser: the management API's JSON parser (depth-bounded
 *     parseJson, prototype-poisoning keys refused), 400 on anything else;
 *   - settleUnreadBody: when a request is refused while its body is still
 *     arriving, the rest is read and discarded for a bounded time and size,
 *     so a client that writes its whole body before it reads (Node's
 *     http.request) reads the refusal instead of a connection reset. Past the
 *     bound the connection is closed.
 */
import { type IncomingMessage } from 'node:http';
import { type FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/index.js';
import { JsonDepthError, MAX_JSON_DEPTH, parseJson } from '../lib/json.js';

/** How long the rest of a refused body is read and discarded before the connection is closed. */
export const LINGER_MS = 5_000;

/** Marks a socket whose refused request is being discarded: a late request timeout closes it without another answer. */
export const LINGERING = Symbol('portcullis.lingering');

const tooLarge = () => new GatewayError('payload_too_large', { detail: 'The request body is too large' });

/** Read a request body of at most `limit` bytes; rejects with 413 past it (the rest is left to settleUnreadBody). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (e) => reject(new GatewayError('bad_request', { detail: 'The request body could not be read', internal: e })));
  });
}

/**
 * Called as a request is refused: when its body has not fully arrived, the
 * rest is read and discarded — at most `maxBytes` more, for at most
 * LINGER_MS — and the connection stays usable; past either bound it is
 * destroyed. Answers true when the response must close the connection
 * instead (the declared body is already beyond the bound).
 */
export function settleUnreadBody(req: IncomingMessage, maxBytes: number): boolean {
  if (req.complete || req.readableEnded || req.destroyed) return false;
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) return true;
  const socket = req.socket as (typeof req.socket & { [LINGERING]?: boolean }) | null;
  if (socket) socket[LINGERING] = true;
  let seen = 0;
  const cut = () => {
    clearTimeout(timer);
    req.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS);
  const done = () => {
    clearTimeout(timer);
    if (socket) socket[LINGERING] = false;
  };
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > maxBytes) cut();
  });
  req.once('end', done);
  req.once('close', done);
  req.resume();
  return false;
}

/** Keys whose presence in a parsed body could reach an object's prototype (fastify's default parser refuses them too). */
function refusePoisoning(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) refusePoisoning(v);
    return;
  }
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (key === '__proto__' || (key === 'constructor' && v !== null && typeof v === 'object' && Object.hasOwn(v, 'prototype')))
      throw new GatewayError('bad_request', { detail: 'The request body contains a forbidden key' });
    refusePoisoning(v);
  }
}

/** Parse a management API body: JSON nested at most MAX_JSON_DEPTH deep, no prototype keys. */
export function parseApiJson(text: string): unknown {
  if (text.length === 0) throw new GatewayError('bad_request', { detail: 'The request body is empty' });
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (e) {
    if (e instanceof JsonDepthError) throw new GatewayError('bad_request', { detail: `The request body is nested deeper than ${MAX_JSON_DEPTH} levels` });
    throw new GatewayError('bad_request', { detail: 'The request body is not valid JSON' });
  }
  if (text.includes('__proto__') || text.includes('constructor')) refusePoisoning(value);
  return value;
}

/** fastify content-type parser (parseAs: 'string') for application/json. */
export function jsonBodyParser(_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void {
  try {
    done(null, parseApiJson(typeof body === 'string' ? body : body.toString('utf8')));
  } catch (e) {
    done(e as Error);
  }
}
