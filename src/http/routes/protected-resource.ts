import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';
import { SERVER_NAME_RE } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';

export const MCP_SCOPES = ['mcp:read', 'mcp:execute'] as const;

/** Public URL of one MCP endpoint: the `resource` its tokens are for. */
export const mcpResourceUrl = (publicUrl: string, server: string) => `${publicUrl}/mcp/${server}`;
/** RFC 9728 path-inserted metadata URL for /mcp/{server}. */
export const mcpResourceMetadataUrl = (publicUrl: string, server: string) => `${publicUrl}/.well-known/oauth-protected-resource/mcp/${server}`;

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for each MCP endpoint, at
 * the path-inserted URL the 401 challenge names, for the aggregated `/mcp`
 * endpoint, plus the root form for the gateway as a whole (clients that look
 * at the origin only). `authorization_servers` lists the gateway itself, then
 * the issuers of `jwt` providers configured with `advertise: true` (a company
 * can point clients at its own IdP).
 */
export async function protectedResourceRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const base = s.config.server.public_url;
  const advertised = s.config.auth.providers.flatMap((p) => (p.type === 'jwt' && p.advertise ? [p.issuer] : []));
  const authorizationServers = [...new Set([base, ...advertised])];
  const doc = (resource: string) => ({
    resource,
    authorization_servers: authorizationServers,
    scopes_supported: [...MCP_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'Portcullis MCP gateway',
  });
  const headers = { 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' };
  app.get('/.well-known/oauth-protected-resource', async (_req, reply) => {
    reply.headers(headers);
    return doc(base);
  });
  app.get('/.well-known/oauth-protected-resource/mcp', async (_req, reply) => {
    reply.headers(headers);
    return doc(`${base}/mcp`);
  });
  app.get<{ Params: { server: string } }>('/.well-known/oauth-protected-resource/mcp/:server', async (req, reply) => {
    const name = req.params.server;
    if (!SERVER_NAME_RE.test(name) || !s.registry.get(name)) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    reply.headers(headers);
    return doc(mcpResourceUrl(base, name));
  });
}
