/**
 * `jwt` providers: bearer JWTs issued by an external identity provider
 * (Keycloak, Entra ID, Auth0, Okta, ...), verified against keys that come
 * only from configuration — a JWKS URL, a public key file, or an HMAC secret.
 *
 * One `JwtProviders` verifier fronts every configured jwt provider: it decodes
 * an uncached token's header and payload once, refuses what is never
 * acceptable (JWE, `alg: none` in any casing), routes by exact `iss` match,
 * and lets the matching provider verify with jose (algorithms pinned,
 * `iss`/`aud`/`exp` required, `nbf`/`iat` with clock skew, optional `typ`,
 * unknown `crit` refused). Headers such as `jwk`, `jku`, `x5u`, `x5c` are never
 * used to find a key: jose only consults them when asked to, and we never ask.
 */
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
  type RemoteJWKSet,
} from 'jose';
import { request } from 'undici';
import { type JwtProviderDef } from '../../config/schema.js';
import { sha256B64u } from '../../lib/crypto.js';
import { LruCache } from '../../lib/lru.js';
import { now } from '../../lib/time.js';
import { MAX_TOKEN_LENGTH, type ExternalVerifier } from '../authenticate.js';
import { invalidToken, tokenExpired } from '../errors.js';
import { externalPrincipal, type Principal } from '../principal.js';
import { mapGroups, mapRole, mapScopes, readClaim, stringOrNull, stringValues, subjectOf } from './claims.js';

/** A JOSE header larger than this is refused before it is decoded. */
export const MAX_JOSE_HEADER_LENGTH = 2048;
/** A JWKS document larger than this is refused. */
const MAX_JWKS_BYTES = 512 * 1024;

type HmacAlg = 'HS256' | 'HS384' | 'HS512';
const HMAC_HASH: Record<HmacAlg, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };
const isHmac = (alg: string): alg is HmacAlg => alg === 'HS256' || alg === 'HS384' || alg === 'HS512';

export interface JwtProviderOptions {
  /** Called when a provider's JWKS no longer contains a key it had (rotation). */
  onKeyRotation?: (provider: string) => void;
}

type KeySource = KeyObject | JWTVerifyGetKey | RemoteJWKSet;

/** One configured jwt provider. */
export class JwtProvider {
  readonly name: string;
  readonly issuer: string;
  private readonly audiences: readonly string[];
  private readonly algorithms: readonly string[];
  private readonly cache: LruCache<string, Principal> | null;
  private readonly skewSec: number;

  private constructor(
    private readonly def: JwtProviderDef,
    private readonly key: KeySource,
  ) {
    this.name = def.name;
    this.issuer = def.issuer;
    this.audiences = typeof def.audience === 'string' ? [def.audience] : [...def.audience];
    this.algorithms = [...def.algorithms];
    this.cache = def.cache_size > 0 ? new LruCache(def.cache_size) : null;
    this.skewSec = Math.ceil(def.clock_skew / 1000);
  }

  static async create(def: JwtProviderDef, opts: JwtProviderOptions = {}): Promise<JwtProvider> {
    let key: KeySource;
    let provider: JwtProvider | null = null;
    if (def.jwks_uri) {
      key = createRemoteJWKSet(new URL(def.jwks_uri), {
        timeoutDuration: def.jwks_timeout,
        cooldownDuration: def.jwks_cooldown,
        cacheMaxAge: def.jwks_cache_max_age,
        [customFetch]: jwksFetcher(def, () => {
          provider?.clearCache();
          opts.onKeyRotation?.(def.name);
        }),
      });
    } else if (def.public_key_file) {
      key = loadPublicKey(def.public_key_file);
    } else if (def.secret) {
      key = await hmacKeys(def.secret, def.algorithms.filter(isHmac));
    } else {
      throw new Error(`jwt provider ${def.name}: no key source (the loader should have refused this config)`);
    }
    provider = new JwtProvider(def, key);
    return provider;
  }

  /** True when the token's `aud` names one of this provider's audiences. */
  audienceMatches(aud: unknown): boolean {
    return stringValues(aud).some((a) => this.audiences.includes(a));
  }

  cached(key: string): Principal | undefined {
    return this.cache?.get(key, now());
  }

  clearCache(): void {
    this.cache?.clear();
  }

  /** Verify a token already routed here by its `iss`. Throws invalid_token / token_expired. */
  async verify(token: string, cacheKey: string, alg: string): Promise<Principal> {
    if (!this.algorithms.includes(alg)) throw invalidToken('The token is signed with an algorithm this issuer is not configured for');
    const current = now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyObject, {
        issuer: this.issuer,
        audience: [...this.audiences],
        algorithms: [...this.algorithms],
        clockTolerance: this.skewSec,
        currentDate: new Date(current),
        requiredClaims: ['iss', 'aud', 'exp'],
        typ: this.def.typ,
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw tokenExpired();
      if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid || isJwksFetchError(e) || !(e instanceof joseErrors.JOSEError))
        throw invalidToken('The token could not be verified: the issuer keys are unavailable', e);
      throw invalidToken('The access token is invalid', e);
    }
    if (typeof payload.iat === 'number' && payload.iat > current / 1000 + this.skewSec) throw invalidToken('The token was issued in the future');
    for (const c of this.def.required_claims) {
      const v = readClaim(payload, c);
      if (v === undefined || v === null) throw invalidToken(`The token lacks the required claim ${c}`);
    }
    const principal = this.toPrincipal(payload);
    this.cache?.set(cacheKey, principal, principal.expiresAt!);
    return principal;
  }

  private toPrincipal(payload: JWTPayload): Principal {
    const claims = this.def.claims;
    const subject = subjectOf(readClaim(payload, claims.subject));
    if (!subject) throw invalidToken(`The token has no usable subject claim (${claims.subject})`);
    const role = claims.role ? mapRole(stringValues(readClaim(payload, claims.role)), this.def.role_map, this.def.default_role) : this.def.default_role;
    return externalPrincipal({
      provider: this.name,
      subject,
      method: 'jwt',
      email: stringOrNull(readClaim(payload, claims.email)),
      username: stringOrNull(payload.preferred_username),
      role,
      groups: claims.groups ? mapGroups(readClaim(payload, claims.groups)) : [],
      tokenId: stringOrNull(payload.jti),
      scopes: mapScopes(payload),
      expiresAt: (payload.exp as number) * 1000,
    });
  }
}

/** The single ExternalVerifier for every jwt provider; routes by `iss`. */
export class JwtProviders implements ExternalVerifier {
  readonly name = 'jwt';
  private readonly byIssuer = new Map<string, JwtProvider[]>();

  constructor(readonly providers: readonly JwtProvider[]) {
    for (const p of providers) {
      const list = this.byIssuer.get(p.issuer) ?? [];
      list.push(p);
      this.byIssuer.set(p.issuer, list);
    }
  }

  async verifyBearer(token: string): Promise<Principal | null> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken();
    const cacheKey = sha256B64u(token);
    for (const p of this.providers) {
      const hit = p.cached(cacheKey);
      if (hit) return hit;
    }

    const parts = token.split('.', 6);
    if (parts.length !== 3 && parts.length !== 5) return null;
    if (parts[0].length > MAX_JOSE_HEADER_LENGTH) throw invalidToken('The token header is too large');
    const header = decodeSegment(parts[0]);
    if (!header) return null; // not a JOSE object at all: someone else's opaque token
    if (parts.length === 5) throw invalidToken('Encrypted tokens (JWE) are not accepted; send a signed JWT');
    const alg = header.alg;
    if (typeof alg !== 'string' || alg.toLowerCase() === 'none') throw invalidToken('Unsigned tokens are not accepted');

    const payload = decodeSegment(parts[1]);
    if (!payload) throw invalidToken();
    const iss = payload.iss;
    if (typeof iss !== 'string') return null;
    const candidates = this.byIssuer.get(iss);
    if (!candidates) return null;
    const fitting = candidates.filter((p) => p.audienceMatches(payload.aud));
    if (fitting.length === 0) throw invalidToken('The token audience is not accepted');
    let first: unknown;
    for (const p of fitting) {
      try {
        return await p.verify(token, cacheKey, alg);
      } catch (e) {
        first ??= e;
      }
    }
    throw first;
  }

  clearCache(provider?: string): void {
    for (const p of this.providers) if (!provider || p.name === provider) p.clearCache();
  }
}

/** base64url JSON object, or null when the segment is not one. */
function decodeSegment(seg: string): Record<string, unknown> | null {
  if (!seg || !/^[A-Za-z0-9_-]+$/.test(seg)) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A public key from a PEM (SPKI, PKCS#1 or X.509 certificate) or JWK JSON file. */
export function loadPublicKey(file: string): KeyObject {
  const text = readFileSync(file, 'utf8');
  const trimmed = text.trim();
  const key = trimmed.startsWith('{') ? createPublicKey({ key: JSON.parse(trimmed) as never, format: 'jwk' }) : createPublicKey(text);
  if (key.type !== 'public') throw new Error(`${file}: not a public key`);
  return key;
}

/** HMAC secrets imported once per configured HS algorithm as non-extractable CryptoKeys. */
async function hmacKeys(secret: string, algs: HmacAlg[]): Promise<JWTVerifyGetKey> {
  const raw = new TextEncoder().encode(secret);
  const keys = new Map<string, webcrypto.CryptoKey>();
  for (const alg of algs) {
    keys.set(alg, await webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: HMAC_HASH[alg] }, false, ['verify']));
  }
  return (header) => {
    const k = keys.get(header.alg);
    if (!k) throw new joseErrors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    return k;
  };
}

class JwksFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksFetchError';
  }
}
const isJwksFetchError = (e: unknown) => e instanceof JwksFetchError;

/**
 * The JWKS fetch jose uses: undici (no redirects, bounded body), a short
 * back-off after a failed fetch so a dead IdP is not hammered by every
 * request, and rotation detection: when a key that was served before is gone,
 * `onRotation` runs (the provider drops its verified-token cache).
 */
function jwksFetcher(def: JwtProviderDef, onRotation: () => void): FetchImplementation {
  let known: Set<string> | null = null;
  let failedAt = 0;
  const backoff = Math.min(def.jwks_cooldown, 5_000);
  return async (url, opts) => {
    if (failedAt && Date.now() - failedAt < backoff) throw new JwksFetchError('JWKS fetch backing off after a recent failure');
    try {
      const headers: Record<string, string> = {};
      opts.headers.forEach((v, k) => (headers[k] = v));
      const res = await request(url, {
        method: 'GET',
        headers,
        signal: opts.signal,
        headersTimeout: def.jwks_timeout,
        bodyTimeout: def.jwks_timeout,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_JWKS_BYTES) {
          res.body.destroy();
          throw new JwksFetchError('JWKS document too large');
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode === 200) {
        const ids = keyIds(text);
        if (ids) {
          if (known && [...known].some((k) => !ids.has(k))) onRotation();
          known = ids;
        }
        failedAt = 0;
      } else throw new JwksFetchError(`JWKS endpoint answered HTTP ${res.statusCode}`);
      return new Response(text, { status: res.statusCode, headers: { 'content-type': 'application/json' } });
    } catch (e) {
      failedAt = Date.now();
      if (e instanceof JwksFetchError) throw e;
      throw new JwksFetchError('JWKS fetch failed', { cause: e });
    }
  };
}

/** Identities of the keys in a JWKS document (kid plus key material), or null if unparsable. */
function keyIds(text: string): Set<string> | null {
  try {
    const doc = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(doc.keys)) return null;
    return new Set(
      doc.keys.map((k: Record<string, unknown>) => `${String(k?.kid ?? '')}|${String(k?.n ?? k?.x ?? k?.k ?? '')}|${String(k?.y ?? '')}`),
    );
  } catch {
    return null;
  }
}
