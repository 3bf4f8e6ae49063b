/**
 * POST /oauth/token — the gateway's OAuth 2.0 token endpoint (RFC 6749 §3.2).
 *
 * Pipeline: noStore → form body only → reject duplicate parameters →
 * extract client authentication (client_secret_basic or client_secret_post,
 * never both) → grant_type dispatch → grant handler → JSON token response.
 * Every error is an RFC 6749 §5.2 body `{error, error_description}`, never
 * problem+json, and never carries a secret.
 *
 * Grants live in `TOKEN_GRANTS`; `client_credentials` (service accounts) is
 * implemented here. Another grant adds an entry (its handler gets the parsed
 * parameters and the client authentication, if any).
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { clientBasicChallenge } from '../../auth/challenge.js';
import { LoginThrottle } from '../../auth/login-throttle.js';
import { OAuthError } from '../../auth/oauth-error.js';
import { ClientCredentialsGrant, type TokenResponse } from '../../auth/service-accounts.js';
import { GatewayError } from '../../errors/index.js';
import { serviceAccountPrincipalId } from '../../lib/principal-id.js';
import { providerMount } from './oauth-provider.js';

/** Grants the authorization server (oauth-provider.ts) answers; `client_credentials` stays here. */
const ENGINE_GRANTS = new Set(['authorization_code', 'refresh_token']);

const FORM = 'application/x-www-form-urlencoded';
const FORM_LIMIT = 64 * 1024;
const NOT_FORM = Symbol('not-form');

export interface ClientAuthentication {
  clientId: string;
  clientSecret: string | undefined;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

export interface TokenRequest {
  params: ReadonlyMap<string, string>;
  client: ClientAuthentication | null;
  ip: string;
}

export interface GrantResult {
  response: TokenResponse;
  /** Audit identity of the principal the token is for. */
  actor: string;
  actorType: 'user' | 'service_account';
}

export type GrantHandler = (req: TokenRequest) => Promise<GrantResult>;

const basicChallenge = { 'WWW-Authenticate': clientBasicChallenge() };

/** 401 invalid_client; RFC 9110 requires a challenge on every 401, so it always carries one. */
const invalidClient = (description = 'Client authentication failed') => new OAuthError('invalid_client', description, 401, basicChallenge);

/** application/x-www-form-urlencoded decoding of one Basic credential part (RFC 6749 §2.3.1). */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw invalidClient('The Basic credentials are not correctly encoded');
  }
}

function parseForm(body: unknown): Map<string, string> {
  if (body === NOT_FORM || typeof body !== 'string') throw new OAuthError('invalid_request', `The request body must be ${FORM}`);
  const params = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(body)) {
    if (params.has(k)) throw new OAuthError('invalid_request', `Parameter ${k.slice(0, 40)} is repeated`);
    params.set(k, v);
  }
  for (const [k, v] of params) if (v === '') params.delete(k); // RFC 6749 §3.2: empty means omitted
  return params;
}

function clientAuthentication(req: FastifyRequest, params: ReadonlyMap<string, string>): ClientAuthentication | null {
  const raw = req.raw.rawHeaders;
  const authz: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'authorization') authz.push(raw[i + 1]);
  if (authz.length > 1) throw new OAuthError('invalid_request', 'More than one Authorization header');
  const postId = params.get('client_id');
  const postSecret = params.get('client_secret');
  if (authz.length === 1) {
    const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authz[0]);
    if (!m) throw invalidClient('Only HTTP Basic client authentication is accepted in the Authorization header');
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalidClient('The Basic credentials are malformed');
    if (postSecret !== undefined) throw new OAuthError('invalid_request', 'Use one client authentication method: client_secret_basic or client_secret_post, not both');
    const clientId = formDecode(decoded.slice(0, colon));
    if (postId !== undefined && postId !== clientId) throw new OAuthError('invalid_request', 'client_id does not match the Basic credentials');
    return { clientId, clientSecret: formDecode(decoded.slice(colon + 1)), method: 'client_secret_basic' };
  }
  if (postId !== undefined) return { clientId: postId, clientSecret: postSecret, method: postSecret !== undefined ? 'client_secret_post' : 'none' };
  if (postSecret !== undefined) throw new OAuthError('invalid_request', 'client_secret without client_id');
  return null;
}

function sendOAuthError(reply: FastifyReply, e: OAuthError): FastifyReply {
  const challenge = e.status === 401 ? basicChallenge : {};
  return reply.code(e.status).headers({ ...challenge, ...e.headers, 'Cache-Control': 'no-store', Pragma: 'no-cache' }).type('application/json; charset=utf-8').send(e.body());
}

/** Map anything thrown in the token endpoint to an RFC 6749 error. */
function toOAuthError(e: unknown): OAuthError {
  if (e instanceof OAuthError) return e;
  const code = (e as { code?: string })?.code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new OAuthError('invalid_request', 'The request body is too large');
  if (typeof code === 'string' && code.startsWith('FST_ERR_CTP')) return new OAuthError('invalid_request', `The request body must be ${FORM}`);
  if (e instanceof GatewayError && e.status < 500) return new OAuthError('invalid_request', e.detail ?? e.title, e.status, e.headers);
  return new OAuthError('server_error', 'The token request could not be processed', 500);
}

export async function oauthRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const throttle = new LoginThrottle(s.config.auth.login_throttle, s.limiterFactory, (e) => {
    s.metrics.rateLimitHit('login');
    s.audit.record({ action: 'rate_limit.hit', actorType: 'anonymous', ip: e.ip, status: 429, detail: { dimension: `oauth_client_${e.scope}` } });
  }, 'oauth_client');
  const clientCredentials = new ClientCredentialsGrant(s.store, s.signer, throttle, {
    issuer: s.auth.tokenIssuer,
    audience: s.auth.tokenAudience,
    ttlMs: s.config.auth.access_token_ttl,
  });

  const TOKEN_GRANTS: Record<string, GrantHandler> = {
    client_credentials: async (r) => {
      if (!r.client) throw invalidClient('Client authentication is required (client_secret_basic or client_secret_post)');
      if (r.client.clientSecret === undefined) throw invalidClient('This client must authenticate with its client secret');
      const { account, response } = await clientCredentials.issue({ clientId: r.client.clientId, clientSecret: r.client.clientSecret, scope: r.params.get('scope'), ip: r.ip });
      s.metrics.authSuccess.inc({ method: 'client_secret' });
      return { response, actor: serviceAccountPrincipalId(account.clientId), actorType: 'service_account' };
    },
  };

  const mount = s.oauth ? providerMount(s, s.oauth) : null;
  const supported = [...Object.keys(TOKEN_GRANTS), ...(mount ? ENGINE_GRANTS : [])].join(', ');

  await app.register(async (scope) => {
    // Form bodies only, parsed here and nowhere else; anything else is refused in the handler.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) => done(null, body));
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, _body, done) => done(null, NOT_FORM));
    scope.setErrorHandler((e, req, reply) => {
      const err = toOAuthError(e);
      if (err.status >= 500) req.log.error({ err: e }, 'token request failed');
      return sendOAuthError(reply, err);
    });

    scope.post('/oauth/token', async (req, reply) => {
      const started = Date.now();
      let clientId: string | null = null;
      let grantType: string | null = null;
      try {
        const params = parseForm(req.body);
        grantType = params.get('grant_type') ?? null;
        if (mount && grantType !== null && ENGINE_GRANTS.has(grantType)) {
          // Authorization code and refresh token: the authorization server's engine (with the same form, a registered client's secret as its stored digest).
          const authz = req.headers.authorization;
          mount.handOff(req, reply, mount.digestClientSecret(req.body as string, typeof authz === 'string' ? authz : undefined));
          return reply;
        }
        const client = clientAuthentication(req, params);
        clientId = client?.clientId.slice(0, 128) ?? null;
        if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
        const handler = Object.hasOwn(TOKEN_GRANTS, grantType) ? TOKEN_GRANTS[grantType] : undefined;
        if (!handler) throw new OAuthError('unsupported_grant_type', `Supported grant types: ${supported}`);
        const result = await handler({ params, client, ip: req.ip });
        s.audit.record({
          action: 'oauth.token', actor: result.actor, actorType: result.actorType, ip: req.ip, status: 200, latencyMs: Date.now() - started,
          detail: { grant_type: grantType, client_id: clientId, scope: result.response.scope },
        });
        return reply.code(200).headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).type('application/json; charset=utf-8').send(result.response);
      } catch (e) {
        const err = toOAuthError(e);
        if (err.status >= 500) req.log.error({ err: e }, 'token request failed');
        // Client authentication failures (and their throttling) count like failed logins.
        if (err.error === 'invalid_client') s.metrics.authFailure.inc({ method: 'client_secret', reason: 'invalid_client' });
        else if (grantType === 'client_credentials' && err.status === 429) s.metrics.authFailure.inc({ method: 'client_secret', reason: 'login_throttled' });
        s.audit.record({
          action: 'oauth.token', ...(clientId === null ? { actor: null, actorType: 'anonymous' } : await clientCredentials.refusedActor(clientId)), ip: req.ip, status: err.status, latencyMs: Date.now() - started,
          detail: { grant_type: grantType?.slice(0, 64) ?? null, error: err.error },
        });
        return sendOAuthError(reply, err);
      }
    });
  });
}
