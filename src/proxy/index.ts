/** What other layers may use from the proxy. */
export { ServerRegistry, validateRuntimeServer, type ServerSource, type RegistryChange, type RuntimeServerValidation } from './registry.js';
export { UpstreamManager, type UpstreamStatus, type UpstreamState, type DiscoveredCatalog } from './upstream-manager.js';
export { type UpstreamCredentials, forwardableHeaders, FORWARDED_REQUEST_HEADERS } from './credentials.js';
export { McpAudit, McpRequestRecord, type McpMetrics, type AuditDraft } from './mcp-audit.js';
export { proxyLimits, DEFAULT_LIMITS, type ProxyLimits } from './principal-caps.js';
export { type ProxyRequest, type ProxyResponse, type ProxyCaller } from './types.js';
