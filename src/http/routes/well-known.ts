import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';
import { GatewayError } from '../../errors/index.js';
import { AUTHORIZE_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH } from '../../oauth/index.js';

/**
 * Authorization-server metadata (RFC 8414, SPEC §10): what an MCP client's
 * OAuth support needs to find every endpoint and method. The same document is
 * served at `/.well-known/openid-configuration` (and at the path-inserted
 * forms of both when `server.public_url` has a path).
 */
export function authorizationServerMetadata(s: Services): Record<string, unknown> {
  const base = s.config.server.public_url;
  const as = s.config.auth.authorization_server;
  const common = {
    issuer: base,
    token_endpoint: `${base}${TOKEN_PATH}`,
    scopes_supported: ['mcp:read', 'mcp:execute', 'api:read', 'api:write', 'admin'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    ...(s.signer.publicJwk ? { jwks_uri: `${base}/.well-known/jwks.json` } : {}),
  };
  if (!s.oauth) return { ...common, grant_types_supported: ['client_credentials'], response_types_supported: [] };
  return {
    ...common,
    authorization_endpoint: `${base}${AUTHORIZE_PATH}`,
    ...(as.dynamic_registration !== 'off' ? { registration_endpoint: `${base}${REGISTER_PATH}` } : {}),
    revocation_endpoint: `${base}${REVOKE_PATH}`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    scopes_supported: ['mcp:read', 'mcp:execute', 'offline_access', 'api:read', 'api:write', 'admin'],
    client_id_metadata_document_supported: as.client_id_metadata_documents.enabled,
    authorization_response_iss_parameter_supported: true,
  };
}

/** OAuth authorization-server metadata and the signing JWKS. */
export async function wellKnownRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const pathPrefix = new URL(s.config.server.public_url).pathname.replace(/\/+$/, '');
  const doc = authorizationServerMetadata(s);
  const paths = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
  for (const p of [...paths, ...(pathPrefix ? paths.map((x) => x + pathPrefix) : [])]) {
    app.get(p, async (_req, reply) => {
      // Public, and read by browser-based clients: any origin may read it.
      reply.headers({ 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' });
      return doc;
    });
  }
  app.get('/.well-known/jwks.json', async (_req, reply) => {
    if (!s.signer.publicJwk) throw new GatewayError('not_found', { detail: 'The gateway signs with HS256; there is no public key' });
    reply.header('Cache-Control', 'public, max-age=300');
    return s.signer.jwks();
  });
}
