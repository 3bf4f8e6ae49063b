/**
 * The resources (RFC 8707) the authorization server issues tokens for: the
 * public URL of each MCP endpoint. Plain functions over the public URL.
 */
export { mcpResource, parseMcpResource } from '../auth/resource-binding.js';

/** Scopes an MCP client can be granted (`mcp:execute` implies `mcp:read`). */
export const MCP_SCOPES = ['mcp:read', 'mcp:execute'] as const;

/** What a scope lets a client do, for the consent page. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  'mcp:read': 'see the tools, resources and prompts you may use',
  'mcp:execute': 'call tools, read resources and get prompts on your behalf',
  offline_access: 'stay connected after you close this page (refresh tokens)',
};
