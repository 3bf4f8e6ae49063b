export { ERROR_CODES, type ErrorCode } from './codes.js';
export { GatewayError, isBackendUnavailable, isGatewayError, toGatewayError, type FieldError } from './gateway-error.js';
export { toProblem, PROBLEM_CONTENT_TYPE, type Problem } from './to-problem.js';
export { toJsonRpc, jsonRpcError, JSONRPC, type JsonRpcId, type JsonRpcErrorBody } from './to-jsonrpc.js';
