import { type Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { LruCache } from '../lib/lru.js';
import { serviceAccountPrincipalId } from '../lib/principal-id.js';
import { now } from '../lib/time.js';
import { invalidToken, principalDisabled, tokenExpired, unauthenticated } from './errors.js';
import { type IdentityCache } from './identity-cache.js';
import { isScope, type Principal, type Scope } from './principal.js';
import { OwnTokenError, type OwnTokenClaims, type Signer } from './signing.js';
import { type ApiTokenRecord } from '../store/index.js';
import { API_TOKEN_PREFIX, hashApiToken } from './api-token-format.js';
import { type BrowserSessions } from './browser-sessions.js';
import { OAuthTokenError, type OAuthAccessTokens } from './oauth-access-tokens.js';
import { checkResourceBinding, mcpEndpointOfPath, parseMcpResource } from './resource-binding.js';

/** What the HTTP layer hands over: raw credential material, nothing framework-specific. */
export interface CredentialInput {
  /** Every Authorization header value received (duplicates are refused). */
  authorization: readonly string[];
  apiKey: string | undefined;
  /** A credential-looking query parameter was present. */
  queryCredential: boolean;
  /** Verified TLS client certificate, when the connection has one (mTLS providers). */
  peerCertificate?: { subject: string; fingerprint256: string; raw?: Buffer } | null;
  /** A client certificate was presented but failed TLS verification (possible with client_auth: request); it never authenticates. */
  peerCertificateRejected?: boolean;
  /** The request-target the credential was presented on (resource-bound tokens are checked against it). */
  path?: string;
  /** The browser-session cookie's value, when the route accepts browser sessions (never the MCP endpoint). */
  sessionCookie?: string;
  /** The `X-CSRF-Token` header (state-changing requests authenticated by a browser session need it). */
  csrfToken?: string;
  /** The HTTP method (decides whether a browser-session request is state-changing). */
  httpMethod?: string;
}

/** Methods that change nothing: a browser session needs no CSRF token for them. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A verifier for credentials issued by someone else (external JWT issuer,
 * introspection endpoint, static tokens, mTLS). Returns null when the
 * credential is not meant for it, throws a GatewayError when it is and fails.
 */
export interface ExternalVerifier {
  readonly name: string;
  verifyBearer?(token: string): Promise<Principal | null>;
  verifyCertificate?(cert: NonNullable<CredentialInput['peerCertificate']>): Promise<Principal | null>;
}

export interface ServiceAccountLookup {
  get(clientId: string): Promise<{ clientId: string; name: string; groups: string[] } | undefined>;
}

interface CachedAccess {
  sub: string;
  pct: 'user' | 'sa' | 'oauth';
  jti: string;
  sid: string | null;
  scopes: Scope[] | null;
  exp: number;
  /** Authorization-server tokens: the grant, the bound resource and the client. */
  gid?: string;
  aud?: string;
  cid?: string;
}

/** Cap on a presented credential's size, checked before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

export class Authenticator {
  private readonly verified: LruCache<string, CachedAccess>;
  private readonly issuer: string;
  private readonly audience: string;
  private external: ExternalVerifier[] = [];
  private serviceAccounts: ServiceAccountLookup | null = null;
  private oauthTokens: OAuthAccessTokens | null = null;
  private browserSessions: BrowserSessions | null = null;
  /** Principal built from (API token record, user record) versions; see fromApiToken. */
  private readonly apiTokenPrincipals = new WeakMap<object, { user: object; principal: Principal }>();

  constructor(
    private readonly config: Config,
    private readonly signer: Signer,
    private readonly cache: IdentityCache,
    opts: { verifiedCacheSize?: number } = {},
  ) {
    this.issuer = config.server.public_url;
    this.audience = config.auth.audience ?? config.server.public_url;
    // size 0 disables caching: every request verifies its token from scratch
    this.verified = new LruCache(Math.max(1, opts.verifiedCacheSize ?? 50_000), { refreshOnGet: false });
    if (opts.verifiedCacheSize === 0) this.verified.set = () => {};
  }

  get tokenIssuer(): string {
    return this.issuer;
  }
  get tokenAudience(): string {
    return this.audience;
  }

  useExternalVerifiers(v: ExternalVerifier[]): void {
    this.external = v;
  }
  useServiceAccounts(s: ServiceAccountLookup): void {
    this.serviceAccounts = s;
  }
  /** Accept the access tokens of the gateway's authorization server (SPEC §10). */
  useOAuthAccessTokens(v: OAuthAccessTokens): void {
    this.oauthTokens = v;
  }
  /** Accept browser sessions where the input carries the session cookie (SPEC §11). */
  useBrowserSessions(b: BrowserSessions): void {
    this.browserSessions = b;
  }

  /** Resolve the caller. Rejects with GatewayError (400/401) when it cannot. */
  async authenticate(input: CredentialInput): Promise<Principal> {
    if (input.authorization.length > 1) throw new GatewayError('duplicate_authorization', { detail: 'Send exactly one Authorization header' });
    if (input.queryCredential) throw new GatewayError('credentials_in_query', { detail: 'Credentials in the query string are refused; use the Authorization header' });

    let token: string | undefined;
    const authz = input.authorization[0];
    if (authz !== undefined) {
      token = bearerToken(authz);
      if (token === undefined) throw invalidToken('The Authorization header must use the Bearer scheme');
      if (input.apiKey !== undefined) throw new GatewayError('bad_request', { detail: 'Send either Authorization or X-API-Key, not both' });
    } else if (input.apiKey !== undefined) {
      token = input.apiKey.trim();
    }

    if (token === undefined) {
      if (input.peerCertificate) return this.fromCertificate(input.peerCertificate);
      if (input.peerCertificateRejected) throw invalidToken('The client certificate could not be verified');
      if (input.sessionCookie !== undefined && this.browserSessions) return this.fromBrowserSession(input);
      throw unauthenticated();
    }
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalidToken();

    if (token.startsWith(API_TOKEN_PREFIX)) return this.fromApiToken(token);
    if (input.apiKey !== undefined && authz === undefined) throw invalidToken('X-API-Key accepts API tokens only');

    // Our own verified access tokens are cached under the token string itself
    // (already in this process's memory for the request); entries die at exp.
    // Only the exact string that verified hits the cache: another spelling of
    // the same token is verified (and refused) on its own.
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.exp * 1000 <= now()) {
        this.verified.delete(token);
        throw tokenExpired();
      }
      return this.principalFromAccess(cached, input);
    }
    return this.fromBearer(token, input);
  }

  private async fromCertificate(cert: NonNullable<CredentialInput['peerCertificate']>): Promise<Principal> {
    for (const v of this.external) {
      const p = v.verifyCertificate ? await v.verifyCertificate(cert) : null;
      if (p) return p;
    }
    throw new GatewayError('invalid_token', { detail: 'The client certificate is not allowed' });
  }

  /** A bearer token that is not an API token and not in the verified cache: ours (verify the signature) or an external verifier's. */
  private async fromBearer(token: string, input: CredentialInput): Promise<Principal> {
    // Ours by the exact protected header we always sign with (no decoding); anything else goes to the external verifiers.
    if (token.startsWith(this.signer.headerPrefix)) return this.fromOwnJwt(token);
    if (this.oauthTokens?.matches(token)) return this.fromOAuthJwt(token, input);
    for (const v of this.external) {
      const p = v.verifyBearer ? await v.verifyBearer(token) : null;
      if (p) return p;
    }
    throw invalidToken();
  }

  private async fromOwnJwt(token: string): Promise<Principal> {
    let payload: OwnTokenClaims;
    try {
      ({ payload } = await this.signer.verify(token, { issuer: this.issuer, audience: this.audience, nowMs: now() }));
    } catch (e) {
      if (e instanceof OwnTokenError && e.reason === 'expired') throw tokenExpired();
      throw invalidToken('The access token is invalid', e);
    }
    const pct = payload.pct === 'sa' ? 'sa' : payload.pct === 'user' ? 'user' : null;
    if (!pct) throw invalidToken();
    const scopes = Array.isArray(payload.scope_list) ? (payload.scope_list as unknown[]).filter((s): s is Scope => typeof s === 'string' && isScope(s)) : null;
    const entry: CachedAccess = {
      sub: payload.sub,
      pct,
      jti: payload.jti,
      sid: typeof payload.sid === 'string' ? payload.sid : null,
      scopes,
      exp: payload.exp,
    };
    this.verified.set(token, entry, entry.exp * 1000);
    return this.principalFromAccess(entry);
  }

  private async principalFromAccess(c: CachedAccess, input?: CredentialInput): Promise<Principal> {
    if (c.pct === 'oauth') return this.oauthPrincipal(c, input);
    if (c.sid && this.cache.isFamilyRevoked(c.sid)) throw invalidToken('The session has been revoked');
    if (c.pct === 'sa') return this.serviceAccountPrincipal(c.sub, 'client_credentials', c.jti, c.scopes, null, null, c.exp * 1000);
    const u = await this.cache.user(c.sub);
    if (!u || u.disabled) throw principalDisabled();
    return {
      type: 'user', id: u.id, email: u.email, username: u.username, role: u.role, groups: u.groups,
      method: 'session', provider: null, tokenId: c.jti, sessionFamily: c.sid, scopes: c.scopes, servers: null,
      rateLimitPerHour: null, expiresAt: c.exp * 1000,
    };
  }

  private async serviceAccountPrincipal(
    clientId: string,
    method: 'client_credentials' | 'api_token',
    tokenId: string,
    scopes: Scope[] | null,
    servers: string[] | null,
    rateLimitPerHour: number | null,
    expiresAt: number | null,
  ): Promise<Principal> {
    const sa = this.serviceAccounts ? await this.serviceAccounts.get(clientId) : undefined;
    if (!sa) throw principalDisabled();
    return {
      type: 'service_account', id: serviceAccountPrincipalId(sa.clientId), email: null, username: sa.name, role: 'user', groups: sa.groups,
      method, provider: null, tokenId, sessionFamily: null, scopes, servers, rateLimitPerHour, expiresAt,
    };
  }

  private async fromApiToken(token: string): Promise<Principal> {
    const rec = await this.cache.apiToken(hashApiToken(token));
    if (!rec || rec.revokedAt) throw invalidToken('The API token is invalid or revoked');
    const expMs = rec.expiresAt ? Date.parse(rec.expiresAt) : null;
    if (expMs !== null && expMs <= now()) throw tokenExpired();
    if (rec.ownerType === 'service_account') return this.serviceAccountPrincipal(rec.ownerId, 'api_token', rec.id, tokenScopes(rec), rec.servers, rec.rateLimitPerHour, expMs);
    const u = await this.cache.user(rec.ownerId);
    if (!u || u.disabled) throw principalDisabled();
    // Cached records are replaced, never mutated, on every change (and the
    // change invalidates the caches): the same token and user objects mean the
    // same principal, so it is built once per version rather than per request.
    const memo = this.apiTokenPrincipals.get(rec);
    if (memo && memo.user === u) return memo.principal;
    const principal: Principal = Object.freeze({
      type: 'user', id: u.id, email: u.email, username: u.username, role: u.role, groups: u.groups,
      method: 'api_token', provider: null, tokenId: rec.id, sessionFamily: null, scopes: tokenScopes(rec), servers: rec.servers,
      rateLimitPerHour: rec.rateLimitPerHour, expiresAt: expMs,
    });
    this.apiTokenPrincipals.set(rec, { user: u, principal });
    return principal;
  }
  /**
   * An access token of the authorization server: verified once (then cached
   * like our own tokens), refused when its grant is revoked (in-memory set) or
   * when presented anywhere but the resource it is bound to; its rights are the
   * intersection of its scopes and the user's current role and groups.
   */
  private async fromOAuthJwt(token: string, input: CredentialInput): Promise<Principal> {
    let claims;
    try {
      claims = await this.oauthTokens!.verify(token, now());
    } catch (e) {
      if (e instanceof OAuthTokenError && e.reason === 'expired') throw tokenExpired();
      throw invalidToken('The access token is invalid', e);
    }
    const entry: CachedAccess = {
      sub: claims.sub, pct: 'oauth', jti: claims.jti, sid: null, exp: claims.exp,
      scopes: claims.scopes.filter((s): s is Scope => s === 'mcp:read' || s === 'mcp:execute'),
      gid: claims.grantId, aud: claims.resource, cid: claims.clientId,
    };
    this.verified.set(token, entry, entry.exp * 1000);
    return this.oauthPrincipal(entry, input);
  }

  private async oauthPrincipal(c: CachedAccess, input: CredentialInput | undefined): Promise<Principal> {
    if (!this.oauthTokens || this.oauthTokens.revoked.has(c.gid!)) throw invalidToken('The authorization has been revoked');
    const server = parseMcpResource(this.issuer, c.aud!);
    if (server === undefined) throw invalidToken();
    const u = await this.cache.user(c.sub);
    if (!u || u.disabled) throw principalDisabled();
    const p: Principal = {
      type: 'user', id: u.id, email: u.email, username: u.username, role: u.role, groups: u.groups,
      method: 'oauth', provider: null, tokenId: c.jti, sessionFamily: null, scopes: c.scopes,
      servers: server === null ? null : [server], rateLimitPerHour: null, expiresAt: c.exp * 1000,
      resource: c.aud!, clientId: c.cid ?? null,
    };
    checkResourceBinding(p, this.issuer, input?.path);
    return p;
  }

  /** A browser session (cookie): never at /mcp; a state-changing request also needs its CSRF token. */
  private async fromBrowserSession(input: CredentialInput): Promise<Principal> {
    const sessions = this.browserSessions!;
    if (input.path === undefined || mcpEndpointOfPath(input.path) !== undefined) throw unauthenticated();
    const s = await sessions.resolve(input.sessionCookie);
    if (!s) throw new GatewayError('unauthenticated', { detail: 'The browser session has ended; sign in again' });
    if (!SAFE_METHODS.has(input.httpMethod ?? '') && !sessions.verifyCsrf(s.id, input.csrfToken))
      throw new GatewayError('csrf_failed', { detail: 'A valid X-CSRF-Token header is required with a browser session' });
    return sessions.principal(s);
  }
}

const tokenScopes = (rec: ApiTokenRecord): Scope[] | null => (rec.scopes?.filter(isScope) as Scope[] | undefined) ?? null;

/**
 * `Bearer <token>` (scheme case-insensitive, spaces around the token allowed)
 * → the token; undefined for any other shape, including whitespace inside it.
 */
export function bearerToken(header: string): string | undefined {
  if (header.length < 8 || (header.charCodeAt(6) !== 32 && header.charCodeAt(6) !== 9)) return undefined;
  if (header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = header.slice(7).trim();
  if (token.length === 0 || /\s/.test(token)) return undefined;
  return token;
}
