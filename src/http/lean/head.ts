/**
 * The request-head parser of the lean HTTP/1.1 layer (http/lean/server.ts).
 *
 * It recognizes one narrow shape of request, the MCP hot path, and nothing
 * else:
 *
 *   POST|DELETE /mcp/{server}[?query] HTTP/1.1
 *   token header names, values of visible ASCII, SP and HTAB only
 *   exactly one Host; no header twice
 *   exactly one Content-Length of digits (required for POST), within the body limit
 *   no Transfer-Encoding, Expect, Upgrade or HTTP2-Settings
 *   Connection absent, or only `close` and `keep-alive`
 *   CRLF line endings, no obs-fold, at most MAX_HEADERS headers in MAX_HEAD bytes
 *
 * Anything outside that shape is not an error here: the parser answers
 * HANDOFF and the connection goes to node:http (llhttp), which serves it, or
 * refuses it, exactly as it would have without this layer. So the parser only
 * has to be right about what it accepts, and what it accepts, node:http
 * accepts with the same meaning (test/http/lean-head.test.ts holds it against
 * node:http on a corpus of malformed and smuggling-shaped heads).
 */

import { HTTP_TOKEN } from '../../lib/http-syntax.js';

/** More bytes are needed to decide. */
export const INCOMPLETE = 0;
/** Not the narrow shape: give the connection, with these bytes, to node:http. */
export const HANDOFF = 1;

/** Largest head accepted (node:http's default --max-http-header-size is 16 KiB; larger goes there). */
export const MAX_HEAD = 16 * 1024;
/** Most header lines accepted. */
export const MAX_HEADERS = 64;

export interface LeanHead {
  method: 'POST' | 'DELETE';
  /** The request-target as sent (origin-form, `/mcp/...`). */
  url: string;
  /** Lower-cased names → values with surrounding whitespace removed (node:http's shape; no duplicates). */
  headers: Record<string, string>;
  /** Names as sent and values, alternating (node:http's `rawHeaders`). */
  rawHeaders: string[];
  contentLength: number;
  /** The client asked for the connection to close after this response. */
  close: boolean;
  /** Bytes of the head, the final CRLF CRLF included. */
  headLength: number;
}

const END = Buffer.from('\r\n\r\n', 'latin1');
/** Characters a head may hold at all: HTAB, CR, LF (checked for pairing below), visible ASCII and SP. */
const BAD_CHAR = /[^\t\r\n\x20-\x7e]/;
/** `/mcp/` + one segment of unreserved, sub-delims, `:`, `@` or percent escapes, then an optional query. */
const TARGET = /^\/mcp\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$/;
const DIGITS = /^[0-9]{1,15}$/;
const VERSION = ' HTTP/1.1';
const POST = 'POST /mcp/';
const DELETE = 'DELETE /mcp/';

/** Whether the first bytes could still begin `prefix` (or already do). */
function startsLike(buf: Buffer, prefix: string): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/** An LF with no CR before it, or a CR with something other than LF after it (the last byte may still be a CR awaiting its LF). */
function hasBareLineBreak(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = buf[i];
    if (c === 0x0a && (i === 0 || buf[i - 1] !== 0x0d)) return true;
    if (c === 0x0d && i + 1 < end && buf[i + 1] !== 0x0a) return true;
  }
  return false;
}

/** Whether a head starting with these bytes could still be the narrow shape (false: hand off at once). */
export function couldBeLean(buf: Buffer): boolean {
  return startsLike(buf, buf[0] === 0x50 ? POST : DELETE);
}

/**
 * Header names seen before, as sent → their lower-cased form, one string
 * object per name. A property key that is the same string object each time
 * is internalized once (as node:http's constant names for known fields are),
 * where a fresh `toLowerCase()` per request costs a string-table lookup on
 * every write and read of the headers object. Only names that passed the
 * token check are kept, and at most NAMES_CACHED of them, so a client
 * sending random names cannot grow it.
 */
const NAMES = new Map<string, string>();
const NAMES_CACHED = 512;

function headerKey(name: string): string | null {
  const hit = NAMES.get(name);
  if (hit !== undefined) return hit;
  if (!HTTP_TOKEN.test(name)) return null;
  const key = name.toLowerCase();
  if (NAMES.size < NAMES_CACHED) NAMES.set(name, key);
  return key;
}

/**
 * Parse the head at the start of `buf`: a LeanHead when it is the narrow
 * shape, INCOMPLETE when more bytes could still make it one, HANDOFF otherwise.
 */
export function parseRequestHead(buf: Buffer, bodyLimit: number): LeanHead | typeof INCOMPLETE | typeof HANDOFF {
  const post = buf[0] === 0x50;
  if (!startsLike(buf, post ? POST : DELETE)) return HANDOFF;
  const end = buf.indexOf(END);
  if (end === -1) {
    if (buf.length >= MAX_HEAD || hasBareLineBreak(buf, buf.length)) return HANDOFF;
    return INCOMPLETE;
  }
  if (end + 4 > MAX_HEAD) return HANDOFF;
  const head = buf.toString('latin1', 0, end);
  if (BAD_CHAR.test(head)) return HANDOFF;

  // The request line. Every line ends at the first CRLF after its start; a CR
  // or LF before that is not part of a pair, so it is checked for on each line.
  let eol = head.indexOf('\r\n');
  if (eol === -1) eol = head.length;
  if (!lineIsClean(head, 0, eol)) return HANDOFF;
  const line0 = head.slice(0, eol);
  if (!line0.endsWith(VERSION)) return HANDOFF;
  const methodLength = post ? 4 : 6;
  const url = line0.slice(methodLength + 1, line0.length - VERSION.length);
  if (!TARGET.test(url)) return HANDOFF;

  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  let host = false;
  let contentLength = -1;
  let close = false;
  let count = 0;
  for (let pos = eol + 2; pos < head.length; pos = eol + 2) {
    eol = head.indexOf('\r\n', pos);
    if (eol === -1) eol = head.length;
    if (++count > MAX_HEADERS || !lineIsClean(head, pos, eol)) return HANDOFF;
    const colon = head.indexOf(':', pos);
    if (colon <= pos || colon >= eol) return HANDOFF;
    const name = head.slice(pos, colon);
    // Also refuses obs-fold (a line starting with SP or HTAB) and whitespace before the colon.
    const key = headerKey(name);
    if (key === null) return HANDOFF;
    // A repeated name, or one Object.prototype already answers (`constructor`, `__proto__`): node:http decides.
    if (headers[key] !== undefined || key === '__proto__') return HANDOFF;
    // Only SP and HTAB are left to trim (BAD_CHAR refused every other space).
    const value = head.slice(colon + 1, eol).trim();
    switch (key) {
      case 'host':
        host = true;
        break;
      case 'content-length':
        if (!DIGITS.test(value)) return HANDOFF;
        contentLength = Number(value);
        if (contentLength > bodyLimit) return HANDOFF;
        break;
      case 'connection':
        for (const t of value.split(',')) {
          const token = t.trim().toLowerCase();
          if (token === 'close') close = true;
          else if (token !== 'keep-alive') return HANDOFF;
        }
        break;
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
      case 'http2-settings':
        return HANDOFF;
    }
    headers[key] = value;
    rawHeaders.push(name, value);
  }
  if (!host) return HANDOFF;
  if (contentLength === -1) {
    if (post) return HANDOFF;
    contentLength = 0;
  }
  return { method: post ? 'POST' : 'DELETE', url, headers, rawHeaders, contentLength, close, headLength: end + 4 };
}

/** No CR or LF in head[from, to) (the line's own CRLF starts at `to`). */
function lineIsClean(head: string, from: number, to: number): boolean {
  const cr = head.indexOf('\r', from);
  if (cr !== -1 && cr < to) return false;
  const lf = head.indexOf('\n', from);
  return lf === -1 || lf > to;
}
