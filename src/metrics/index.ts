export { Metrics, MCP_METHODS, AUTH_BUCKETS, UPSTREAM_BUCKETS, type McpOutcome } from './metrics.js';
export { instrumentAuthenticator, presentedMethod } from './instrument-auth.js';
