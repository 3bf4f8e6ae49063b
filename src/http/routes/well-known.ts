import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';
import { GatewayError } from '../../errors/index.js';

/** OAuth authorization-server metadata and the signing JWKS. */
export async function wellKnownRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const base = s.config.server.public_url;
  app.get('/.well-known/oauth-authorization-server', async (_req, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return {
      issuer: base,
      token_endpoint: `${base}/oauth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['mcp:read', 'mcp:execute', 'api:read', 'api:write', 'admin'],
      response_types_supported: [],
      ...(s.signer.publicJwk ? { jwks_uri: `${base}/.well-known/jwks.json` } : {}),
    };
  });
  app.get('/.well-known/jwks.json', async (_req, reply) => {
    if (!s.signer.publicJwk) throw new GatewayError('not_found', { detail: 'The gateway signs with HS256; there is no public key' });
    reply.header('Cache-Control', 'public, max-age=300');
    return s.signer.jwks();
  });
}
