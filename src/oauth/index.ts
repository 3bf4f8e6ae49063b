/** The OAuth 2.1 authorization server for MCP clients (SPEC §10): what other layers may use. */
export { AuthorizationServer, type AuthorizationServerDeps } from './authorization-server.js';
export { loadKeys, type AuthorizationServerKeys } from './keys.js';
export { OAuthManagement, type AuthorizationView, type ClientView, type ClientSource } from './management.js';
export { GrantRevoker, type RevocationReason } from './revocation.js';
export { hashClientSecret } from './adapter.js';
export { loadEngine, type EngineModule } from './engine.js';
export { MCP_SCOPES, SCOPE_DESCRIPTIONS, mcpResource, parseMcpResource } from './resources.js';
export { missingScopes } from './policy.js';
export {
  AUTHORIZE_PATH, TOKEN_PATH, REGISTER_PATH, REVOKE_PATH, INTERACTION_PATH, DYNAMIC_CLIENT_PREFIX, DYNAMIC_SECRET_PREFIX, ENGINE_COOKIES,
} from './provider.js';
