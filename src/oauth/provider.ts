/**
 * The OAuth 2.1 authorization server for the gateway's MCP endpoints
 * (SPEC §10), on oidc-provider (panva; OpenID Certified). This file is its
 * configuration; the HTTP layer mounts it (http/routes/oauth-provider.ts).
 *
 * - authorization code with PKCE S256 only (`plain` is not implemented by
 *   the engine; a missing challenge is refused);
 * - resource indicators (RFC 8707): the resource is required, must be
 *   `<public_url>/mcp/{server}` of an existing server or `<public_url>/mcp`,
 *   and access tokens are JWTs whose `aud` is exactly that resource;
 * - refresh tokens rotate on every use; a second use of a refresh token or of
 *   a code revokes its grant (the engine's behaviour, plus the adapter's
 *   atomic consume for concurrent uses);
 * - dynamic registration per `dynamic_registration`, pre-registered clients
 *   from the config, Client ID Metadata Documents through the adapter;
 * - accounts are the gateway's users, interactions its sign-in and consent pages.
 */
import { type Configuration, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import { type OAuthAccessTokens } from '../auth/oauth-access-tokens.js';
import { type Config } from '../config/index.js';
import { randomToken } from '../lib/crypto.js';
import { applicationTypeFor } from '../lib/redirect-uri.js';
import { type Store } from '../store/index.js';
import { adapterFactory, type AdapterDeps } from './adapter.js';
import { type AuthorizationServerKeys } from './keys.js';
import { buildPolicy, loadExistingGrant } from './policy.js';
import { MCP_SCOPES, parseMcpResource } from './resources.js';

export const AUTHORIZE_PATH = '/oauth/authorize';
export const TOKEN_PATH = '/oauth/token';
export const REGISTER_PATH = '/oauth/register';
export const REVOKE_PATH = '/oauth/revoke';
export const INTERACTION_PATH = '/oauth/interaction';

/** Prefix of client ids issued by dynamic registration, and of their secrets. */
export const DYNAMIC_CLIENT_PREFIX = 'pco_';
export const DYNAMIC_SECRET_PREFIX = 'pcos_';

/** Cookie names of the engine (its interaction state and its own session, secondary to the gateway's). */
export const ENGINE_COOKIES = { session: 'portcullis_oauth_session', interaction: 'portcullis_oauth_interaction', resume: 'portcullis_oauth_resume' };

export interface ProviderDeps extends Omit<AdapterDeps, 'store'> {
  config: Config;
  store: Store;
  keys: AuthorizationServerKeys;
  accessTokens: OAuthAccessTokens;
  /** Whether an MCP server of that name exists now. */
  isServer: (name: string) => boolean;
  /** The user id of the gateway browser session a Cookie header carries, or null. */
  signedInUser: (cookieHeader: string | undefined) => Promise<string | null>;
  /** An error page for the browser (authorization errors that cannot be redirected): its HTML and security headers. */
  renderErrorPage: (error: { error: string; error_description?: string }) => { html: string; headers: Record<string, string> };
}

const seconds = (ms: number) => Math.max(1, Math.round(ms / 1000));

export function createProvider(d: ProviderDeps): Provider {
  const { config } = d;
  const { errors, Provider } = d.engine;
  const issuer = config.server.public_url;
  const as = config.auth.authorization_server;
  const secure = issuer.startsWith('https://');
  const mountPath = new URL(issuer).pathname.replace(/\/$/, '');
  const accessTtl = seconds(config.auth.access_token_ttl);
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure, signed: true, overwrite: true };

  const configuration: Configuration = {
    adapter: adapterFactory({ ...d, store: d.store }),
    clients: as.clients.map((c) => ({
      client_id: c.client_id,
      client_name: c.client_name,
      redirect_uris: [...c.redirect_uris],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: applicationTypeFor(c.redirect_uris),
      ...(c.client_secret ? { client_secret: c.client_secret, token_endpoint_auth_method: 'client_secret_basic' as const } : { token_endpoint_auth_method: 'none' as const }),
    })),
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    jwks: { keys: [d.keys.providerJwk as never] },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    cookies: { keys: d.keys.cookieKeys, names: ENGINE_COOKIES, long: cookieOptions, short: cookieOptions },
    features: {
      devInteractions: { enabled: false },
      registration: {
        enabled: as.dynamic_registration !== 'off',
        initialAccessToken: false,
        issueRegistrationAccessToken: false,
        idFactory: () => DYNAMIC_CLIENT_PREFIX + randomToken(18),
        secretFactory: () => DYNAMIC_SECRET_PREFIX + randomToken(32),
      },
      registrationManagement: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      clientCredentials: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // The resource is required at the authorization endpoint; at the token endpoint the granted one is used.
        defaultResource(ctx: KoaContextWithOIDC, _client, oneOf) {
          if (ctx.oidc.route === 'authorization') throw new errors.InvalidTarget(`resource is required: ${issuer}/mcp/{server}`);
          return oneOf?.length === 1 ? oneOf[0] : undefined;
        },
        useGrantedResource: () => true,
        getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string) {
          if (Array.isArray(ctx.oidc.params?.resource) && ctx.oidc.params.resource.length > 1) throw new errors.InvalidTarget('request exactly one resource');
          const server = parseMcpResource(issuer, resource);
          if (server === undefined) throw new errors.InvalidTarget(`resource must be ${issuer}/mcp/{server} or ${issuer}/mcp`);
          if (server !== null && !d.isServer(server)) throw new errors.InvalidTarget(`there is no MCP server named ${server}`);
          return {
            scope: MCP_SCOPES.join(' '),
            audience: resource,
            accessTokenTTL: accessTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'HS256', key: d.accessTokens.secret, kid: d.accessTokens.kid } },
          };
        },
      },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: ['offline_access'],
    findAccount: async (_ctx, id) => {
      const u = await d.store.users.byId(id);
      if (!u || u.disabled) return undefined;
      return { accountId: u.id, claims: () => ({ sub: u.id }) };
    },
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: seconds(as.authorization_code_ttl),
      RefreshToken: seconds(config.auth.refresh_token_ttl),
      Grant: seconds(as.consent_ttl),
      Interaction: 600,
      Session: seconds(config.auth.browser_sessions.max_age),
      IdToken: 3600,
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    allowOmittingSingleRegisteredRedirectUri: false,
    acceptQueryParamAccessTokens: false,
    clockTolerance: 5,
    formats: {
      customizers: {
        // The grant travels in the token: revoking it ends the token on every replica (auth/oauth-access-tokens.ts).
        jwt: (_ctx, token, parts) => {
          if ('grantId' in token) parts.payload.gid = token.grantId;
        },
      },
    },
    interactions: {
      url: (_ctx, interaction) => `${mountPath}${INTERACTION_PATH}/${interaction.uid}`,
      policy: buildPolicy(d.engine, d.signedInUser),
    },
    loadExistingGrant: loadExistingGrant(d.store),
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((u) => originOf(u) === origin) ?? false,
    routes: {
      authorization: AUTHORIZE_PATH,
      token: TOKEN_PATH,
      registration: REGISTER_PATH,
      revocation: REVOKE_PATH,
      jwks: '/oauth/jwks',
      end_session: '/oauth/end-session',
      introspection: '/oauth/introspect',
      userinfo: '/oauth/userinfo',
      pushed_authorization_request: '/oauth/par',
      code_verification: '/oauth/device',
      device_authorization: '/oauth/device/auth',
      backchannel_authentication: '/oauth/backchannel',
    },
    renderError: (ctx, out, err) => {
      // The engine's specific reason (error_detail) says what to fix; it never carries a secret.
      const detail = (err as { error_detail?: unknown }).error_detail;
      const page = d.renderErrorPage({ error: out.error, error_description: typeof detail === 'string' ? detail : out.error_description });
      ctx.status = 400;
      ctx.set(page.headers);
      ctx.body = page.html;
    },
  };
  const provider = new Provider(issuer, configuration);
  // An authorization request without `scope` asks for what the user's groups allow (both MCP scopes), shown on the consent page.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === AUTHORIZE_PATH && ctx.query.scope === undefined) ctx.query = { ...ctx.query, scope: MCP_SCOPES.join(' ') };
    await next();
  });
  // The HTTP layer sets X-Forwarded-Proto/-Host from server.public_url before handing a request over (never the client's).
  provider.proxy = true;
  return provider;
}

function originOf(uri: string): string | null {
  try {
    const u = new URL(uri);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : null;
  } catch {
    return null;
  }
}
