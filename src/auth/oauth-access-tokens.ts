/**
 * Access tokens issued by the gateway's authorization server (SPEC §10) to
 * MCP clients: JWTs (`typ: at+jwt`, HS256 with a key kept in the store) whose
 * `aud` is the one MCP resource they were requested for, carrying the user
 * (`sub`), the client (`client_id`), the granted scopes and the grant (`gid`).
 *
 * Verification pins everything (jose `jwtVerify`): the algorithm, the key,
 * `typ`, `iss`; `sub`, `jti`, `exp`, `iat`, `aud`, `client_id` and `gid` are
 * required. A token of a revoked grant is refused: the set of revoked grants
 * lives in memory on every replica, loaded at start and fed by the bus, so the
 * hot path never reads the store to check it.
 */
import { webcrypto } from 'node:crypto';
import { jwtVerify, errors as joseErrors } from 'jose';
import { type Bus } from '../lib/bus.js';
import { sha256B64u } from '../lib/crypto.js';
import { type Store } from '../store/index.js';
import { CLOCK_TOLERANCE_S } from './signing.js';

/** Verified claims of one authorization-server access token. */
export interface OAuthAccessClaims {
  sub: string;
  jti: string;
  exp: number;
  clientId: string;
  grantId: string;
  /** The bound resource (`aud`). */
  resource: string;
  scopes: string[];
}

export class OAuthTokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'The access token has expired' : 'The access token is invalid');
    this.name = 'OAuthTokenError';
  }
}

/**
 * Grants revoked recently enough that one of their access tokens may still be
 * live. Every replica holds the same set: loaded from the store at start,
 * kept current by `oauth_grant` events, reloaded after a `flush`.
 */
export class RevokedGrants {
  private readonly ids = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    bus: Bus,
    /** How far back revocations matter: the access-token lifetime plus a margin. */
    private readonly windowMs: number,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'oauth_grant') this.ids.add(e.id);
      else if (e.kind === 'flush') void this.load().catch(() => undefined);
    });
  }

  async load(): Promise<void> {
    const since = new Date(Date.now() - this.windowMs).toISOString();
    for (const id of await this.store.oauth.revokedGrantsSince(since)) this.ids.add(id);
  }

  has(grantId: string): boolean {
    return this.ids.has(grantId);
  }

  /** Record locally at once (the bus delivers to the other replicas). */
  add(grantId: string): void {
    this.ids.add(grantId);
  }

  close(): void {
    this.unsubscribe();
  }
}

const REQUIRED = ['sub', 'jti', 'exp', 'iat', 'aud', 'client_id', 'gid'];

export class OAuthAccessTokens {
  /** `base64url({"alg":"HS256","typ":"at+jwt","kid":...})` + `.`: how the Authenticator recognizes these tokens without decoding. */
  readonly headerPrefix: string;

  private constructor(
    private readonly key: webcrypto.CryptoKey,
    /** The raw key, for the engine that signs (oidc-provider's resource-server configuration). */
    readonly secret: Buffer,
    readonly kid: string,
    private readonly issuer: string,
    readonly revoked: RevokedGrants,
  ) {
    this.headerPrefix = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid })).toString('base64url') + '.';
  }

  /** From the stored secret (base64url, ≥ 256 bits). */
  static async create(secretB64u: string, issuer: string, revoked: RevokedGrants): Promise<OAuthAccessTokens> {
    const secret = Buffer.from(secretB64u, 'base64url');
    if (secret.length < 32) throw new Error('the stored OAuth access-token secret is shorter than 256 bits');
    const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    const kid = 'as-' + sha256B64u(secretB64u).slice(0, 16);
    return new OAuthAccessTokens(key, secret, kid, issuer, revoked);
  }

  matches(token: string): boolean {
    return token.startsWith(this.headerPrefix);
  }

  async verify(token: string, nowMs: number): Promise<OAuthAccessClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: this.issuer,
        typ: 'at+jwt',
        requiredClaims: REQUIRED,
        currentDate: new Date(nowMs),
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (e) {
      throw new OAuthTokenError(e instanceof joseErrors.JWTExpired ? 'expired' : 'invalid');
    }
    const { sub, jti, exp, aud, client_id: clientId, gid, scope } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') throw new OAuthTokenError('invalid');
    if (typeof aud !== 'string' || typeof clientId !== 'string' || typeof gid !== 'string') throw new OAuthTokenError('invalid');
    if (scope !== undefined && typeof scope !== 'string') throw new OAuthTokenError('invalid');
    return { sub, jti, exp, clientId, grantId: gid, resource: aud, scopes: scope ? scope.split(' ').filter(Boolean) : [] };
  }
}
