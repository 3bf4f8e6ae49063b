import { type GatewayError } from './gateway-error.js';

/** JSON-RPC error codes used by the gateway. -32003 is "forbidden" (MCP-gateway convention). */
export const JSONRPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  UNAUTHORIZED: -32001,
  SESSION_NOT_FOUND: -32001,
  FORBIDDEN: -32003,
  RATE_LIMITED: -32029,
  UPSTREAM_ERROR: -32002,
  UPSTREAM_TIMEOUT: -32004,
} as const;

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorBody {
  jsonrpc: '2.0';
  id: JsonRpcId;
  error: { code: number; message: string; data?: unknown };
}

const CODE_MAP: Partial<Record<string, number>> = {
  parse_error: JSONRPC.PARSE_ERROR,
  invalid_jsonrpc: JSONRPC.INVALID_REQUEST,
  bad_request: JSONRPC.INVALID_REQUEST,
  payload_too_large: JSONRPC.INVALID_REQUEST,
  forbidden: JSONRPC.FORBIDDEN,
  insufficient_scope: JSONRPC.FORBIDDEN,
  origin_not_allowed: JSONRPC.FORBIDDEN,
  rate_limited: JSONRPC.RATE_LIMITED,
  upstream_unavailable: JSONRPC.UPSTREAM_ERROR,
  upstream_timeout: JSONRPC.UPSTREAM_TIMEOUT,
  session_not_found: JSONRPC.SESSION_NOT_FOUND,
  validation_failed: JSONRPC.INVALID_PARAMS,
};

export function jsonRpcError(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcErrorBody {
  const body: JsonRpcErrorBody = { jsonrpc: '2.0', id, error: { code, message } };
  if (data !== undefined) body.error.data = data;
  return body;
}

/** Codes without an explicit mapping follow their HTTP status class: a client error is never reported as -32603. */
function byStatus(status: number): number {
  if (status === 401) return JSONRPC.UNAUTHORIZED;
  if (status === 403) return JSONRPC.FORBIDDEN;
  if (status === 429) return JSONRPC.RATE_LIMITED;
  if (status >= 400 && status < 500) return JSONRPC.INVALID_REQUEST;
  return JSONRPC.INTERNAL_ERROR;
}

/** JSON-RPC error body for a GatewayError; 5xx never carry internals. */
export function toJsonRpc(err: GatewayError, id: JsonRpcId = null): JsonRpcErrorBody {
  const code = CODE_MAP[err.code] ?? byStatus(err.status);
  const message = err.status >= 500 && err.code === 'internal_error' ? 'Internal error' : err.message;
  return jsonRpcError(id, code, message, { code: err.code });
}
