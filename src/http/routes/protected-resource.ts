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
 * the path-inserted URL the 401 challenge names, plus the root form for the
 * gateway as a whole (clients that look at the origin only).
 */
export async function protectedResourceRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const base = s.config.server.public_url;
  const doc = (resource: string) => ({
    resource,
    authorization_servers: [base],
    scopes_supported: [...MCP_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'Portcullis MCP gateway',
  });
  app.get('/.well-known/oauth-protected-resource', async (_req, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return doc(base);
  });
  app.get<{ Params: { server: string } }>('/.well-known/oauth-protected-resource/mcp/:server', async (req, reply) => {
    const name = req.params.server;
    if (!SERVER_NAME_RE.test(name) || !s.registry.get(name)) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    reply.header('Cache-Control', 'public, max-age=300');
    return doc(mcpResourceUrl(base, name));
  });
}
