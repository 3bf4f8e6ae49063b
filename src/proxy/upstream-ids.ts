/**
 * Request ids on the way to a remote (HTTP) upstream. Connections to an
 * upstream are pooled and shared by every caller, so a reply is relayed only
 * if it answers a request of its own exchange (reply-check.ts). Client ids
 * alone make that check weak: every MCP client counts from 0, so one caller's
 * `id: 3` is likely another's. The gateway therefore sends each request with
 * an id of its own, `<key>.<client id as JSON>`, and puts the client's id back
 * on the answer:
 *
 * - within a session the key is derived from the gateway's session id (a
 *   secret of its owner; the upstream never sees it), so the mapping needs no
 *   state, works on every replica, and a client's `notifications/cancelled`
 *   can name the request the upstream knows;
 * - a request outside a session (initialize, stateless clients) gets a random
 *   key of its own.
 *
 * An upstream that hands one caller's crafted bytes to another (a
 * desynchronized pooled connection) would have to guess a 128-bit key.
 */
import { createHash } from 'node:crypto';
import { randomToken } from '../lib/crypto.js';
import { isRequest, type JsonRpcMessage } from './jsonrpc.js';
import { type Expected } from './reply-check.js';

/** The key of a session's upstream ids (128 bits, base64url), derived from the gateway's session id. */
export function sessionIdKey(sessionId: string): string {
  return createHash('sha256').update('portcullis upstream request ids\0').update(sessionId).digest('base64url').slice(0, 22);
}

/** A fresh key for a request outside a session. */
export const requestIdKey = (): string => randomToken(16);

const upstreamId = (key: string, id: string | number): string => `${key}.${JSON.stringify(id)}`;

/**
 * The messages as sent upstream: requests with the gateway's ids (copies; the
 * client's messages are left as they were), a `notifications/cancelled`
 * naming the request the upstream knows. `pending` is re-keyed by upstream id,
 * each entry remembering the client's id.
 */
export function withUpstreamIds(messages: readonly JsonRpcMessage[], pending: Map<string | number, Expected>, key: string): JsonRpcMessage[] {
  const out: JsonRpcMessage[] = [];
  const rekeyed = new Map<string | number, Expected>();
  for (const m of messages) {
    if (isRequest(m)) {
      const id = upstreamId(key, m.id);
      const exp = pending.get(m.id);
      if (exp) {
        exp.clientId = m.id;
        rekeyed.set(id, exp);
      }
      out.push({ ...m, id });
      continue;
    }
    if ('method' in m && m.method === 'notifications/cancelled' && m.params && typeof m.params === 'object') {
      const requestId = (m.params as { requestId?: unknown }).requestId;
      if (typeof requestId === 'string' || typeof requestId === 'number') {
        out.push({ ...m, params: { ...m.params, requestId: upstreamId(key, requestId) } });
        continue;
      }
    }
    out.push(m);
  }
  pending.clear();
  for (const [k, v] of rekeyed) pending.set(k, v);
  return out;
}

/** The client's id inside an upstream id made with `key`; undefined when it was not made with it. */
export function clientIdOf(id: unknown, key: string): string | number | undefined {
  if (typeof id !== 'string' || id.length <= key.length + 1 || !id.startsWith(key) || id.charCodeAt(key.length) !== 46 /* . */) return undefined;
  try {
    const v: unknown = JSON.parse(id.slice(key.length + 1));
    return typeof v === 'string' || typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}
