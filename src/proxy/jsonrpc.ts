/**
 * JSON-RPC 2.0 message parsing and classification for MCP bodies. Each body is
 * parsed once, with bounded nesting (lib/json.ts); the parsed messages drive
 * authorization, and what is forwarded is re-serialized from them, never the
 * client's bytes (a duplicate key cannot show the gateway one tool name and an
 * upstream parser another).
 */
import { GatewayError, type JsonRpcId } from '../errors/index.js';
import { JsonDepthError, parseJson } from '../lib/json.js';

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: string | number;
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export interface ParsedBody {
  batch: boolean;
  messages: JsonRpcMessage[];
}

export const isRequest = (m: JsonRpcMessage): m is JsonRpcRequest => 'method' in m && 'id' in m && m.id !== undefined;
export const isNotification = (m: JsonRpcMessage): m is JsonRpcNotification => 'method' in m && !('id' in m && m.id !== undefined);
export const isResponse = (m: JsonRpcMessage): m is JsonRpcResponse => !('method' in m);

/**
 * Parse an MCP POST body: one message or a non-empty batch of at most
 * `maxBatch` messages. Throws parse_error (not JSON, or nested too deeply),
 * invalid_jsonrpc, or batch_too_large.
 */
export function parseMcpBody(body: Buffer | string, maxBatch = Number.POSITIVE_INFINITY): ParsedBody {
  let value: unknown;
  try {
    value = parseJson(body);
  } catch (e) {
    throw new GatewayError('parse_error', { detail: e instanceof JsonDepthError ? `Parse error: ${e.message}` : 'Parse error: the body is not valid JSON' });
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new GatewayError('invalid_jsonrpc', { detail: 'Invalid Request: empty batch' });
    if (value.length > maxBatch) throw new GatewayError('batch_too_large', { detail: `The batch has ${value.length} messages; at most ${maxBatch} are accepted (server.max_batch)` });
    const messages = value.map((v, i) => checkMessage(v, i));
    const seen = new Set<string | number>();
    for (const m of messages) {
      if (isRequest(m)) {
        if (seen.has(m.id)) throw new GatewayError('invalid_jsonrpc', { detail: 'Invalid Request: duplicate id in batch' });
        seen.add(m.id);
      }
    }
    return { batch: true, messages };
  }
  return { batch: false, messages: [checkMessage(value, 'body')] };
}

const invalid = (where: string | number, why: string) =>
  new GatewayError('invalid_jsonrpc', { detail: `Invalid Request (${typeof where === 'number' ? `element ${where}` : where}): ${why}` });

/** One message's shape; `where` names it in errors ('body', or its index in a batch). No closure per message. */
function checkMessage(v: unknown, where: string | number): JsonRpcMessage {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(where, 'not a JSON-RPC object');
  const o = v as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') throw invalid(where, 'jsonrpc must be "2.0"');
  const hasId = 'id' in o && o.id !== undefined;
  if (hasId && !(typeof o.id === 'string' || (typeof o.id === 'number' && Number.isFinite(o.id)) || o.id === null)) throw invalid(where, 'id must be a string or number');
  if ('method' in o) {
    if (typeof o.method !== 'string' || o.method.length === 0 || o.method.length > 256) throw invalid(where, 'method must be a non-empty string');
    if (o.id === null) throw invalid(where, 'a request id must not be null');
    if ('params' in o && o.params !== undefined && (o.params === null || typeof o.params !== 'object')) throw invalid(where, 'params must be an object or array');
    return o as unknown as JsonRpcMessage;
  }
  // a response (client answering a server-to-client request)
  if (!hasId) throw invalid(where, 'a response needs an id');
  const hasResult = 'result' in o;
  const hasError = 'error' in o;
  if (hasResult === hasError) throw invalid(where, 'a response needs exactly one of result and error');
  if (hasError && (!o.error || typeof o.error !== 'object')) throw invalid(where, 'error must be an object');
  return o as unknown as JsonRpcMessage;
}

/** The serialized body to forward: the allowed messages, in the shape the client sent. */
export function serializeForward(messages: readonly JsonRpcMessage[], batch: boolean): string {
  return JSON.stringify(batch ? messages : messages[0]);
}

/** The id to answer a whole-body error with: the single request's id, else null. */
export function idForError(parsed: ParsedBody | null): JsonRpcId {
  if (!parsed || parsed.batch) return null;
  const m = parsed.messages[0];
  return isRequest(m) ? m.id : null;
}
