/**
 * `introspection` providers (RFC 7662): opaque bearer tokens checked by
 * POSTing them to the issuer's introspection endpoint with
 * `client_secret_basic` authentication.
 *
 * Consulted last, only for tokens nobody else claimed (not `pcl_` API tokens,
 * not our own JWTs, not JWTs whose `iss` names a jwt provider, not static
 * tokens). Results — active and inactive — are cached by the token's SHA-256
 * for `cache_ttl`, never past the token's `exp`. Errors and timeouts fail
 * closed (401) and are not cached.
 */
import { Pool } from 'undici';
import { type IntrospectionProviderDef } from '../../config/schema.js';
import { sha256B64u } from '../../lib/crypto.js';
import { LruCache } from '../../lib/lru.js';
import { now } from '../../lib/time.js';
import { type ExternalVerifier } from '../authenticate.js';
import { invalidToken, tokenExpired } from '../errors.js';
import { externalPrincipal, type Principal } from '../principal.js';
import { mapGroups, mapRole, mapScopes, readClaim, scopeValues, stringOrNull, stringValues, subjectOf } from './claims.js';

const MAX_RESPONSE_BYTES = 256 * 1024;

type Outcome = { active: true; principal: Principal } | { active: false };

/** Encode per RFC 6749 §2.3.1 (form-urlencoded, then Basic). */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

export class IntrospectionProvider {
  readonly name: string;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly authorization: string;
  private readonly cache: LruCache<string, Outcome> | null;

  constructor(private readonly def: IntrospectionProviderDef) {
    this.name = def.name;
    const url = new URL(def.url);
    this.path = url.pathname + url.search;
    this.pool = new Pool(url.origin, { connections: 16, headersTimeout: def.timeout, bodyTimeout: def.timeout, keepAliveTimeout: 30_000 });
    this.authorization = basicAuth(def.client_id ?? '', def.client_secret ?? '');
    this.cache = def.cache_size > 0 ? new LruCache(def.cache_size) : null;
  }

  /**
   * The principal for an active token, or null when the server says the token
   * is not active. Throws invalid_token when the server cannot be asked
   * (error, timeout, malformed answer) and token_expired for a known token
   * past its `exp`.
   */
  async introspect(token: string, cacheKey = sha256B64u(token)): Promise<Principal | null> {
    const t = now();
    const hit = this.cache?.get(cacheKey, t);
    if (hit) return this.accept(hit, t);
    const outcome = await this.ask(token);
    if (this.cache) {
      let until = t + this.def.cache_ttl;
      if (outcome.active && outcome.principal.expiresAt !== null) until = Math.min(until, outcome.principal.expiresAt);
      if (until > t) this.cache.set(cacheKey, outcome, until);
    }
    return this.accept(outcome, t);
  }

  private accept(o: Outcome, t: number): Principal | null {
    if (!o.active) return null;
    if (o.principal.expiresAt !== null && o.principal.expiresAt <= t) throw tokenExpired();
    return o.principal;
  }

  private async ask(token: string): Promise<Outcome> {
    let body: unknown;
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: AbortSignal.timeout(this.def.timeout),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > MAX_RESPONSE_BYTES) {
          res.body.destroy();
          throw new Error('introspection response too large');
        }
        chunks.push(c as Buffer);
      }
      if (res.statusCode !== 200) throw new Error(`introspection endpoint answered HTTP ${res.statusCode}`);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      throw invalidToken('The token could not be verified: the introspection endpoint is unavailable', { provider: this.name, cause: e });
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidToken('The token could not be verified', { provider: this.name, cause: 'non-object answer' });
    const r = body as Record<string, unknown>;
    if (r.active !== true) return { active: false };
    const have = new Set(scopeValues(r.scope));
    if (!this.def.required_scopes.every((s) => have.has(s))) return { active: false };
    return { active: true, principal: this.toPrincipal(r) };
  }

  private toPrincipal(r: Record<string, unknown>): Principal {
    const claims = this.def.claims;
    const subject = subjectOf(readClaim(r, claims.subject)) ?? subjectOf(r.username) ?? subjectOf(r.client_id);
    if (!subject) throw invalidToken('The introspection answer names no subject', { provider: this.name });
    const exp = typeof r.exp === 'number' && Number.isFinite(r.exp) ? r.exp * 1000 : null;
    return externalPrincipal({
      provider: this.name,
      subject,
      method: 'introspection',
      email: stringOrNull(readClaim(r, claims.email)),
      username: stringOrNull(r.username),
      role: claims.role ? mapRole(stringValues(readClaim(r, claims.role)), this.def.role_map, this.def.default_role) : this.def.default_role,
      groups: claims.groups ? mapGroups(readClaim(r, claims.groups)) : [],
      tokenId: stringOrNull(r.jti),
      scopes: mapScopes(r),
      expiresAt: exp,
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * The ExternalVerifier for every introspection provider, asked in config
 * order. The first that says active wins. When none does and one of them
 * could not be asked, the request fails closed with that error.
 */
export class IntrospectionProviders implements ExternalVerifier {
  readonly name = 'introspection';

  constructor(readonly providers: readonly IntrospectionProvider[]) {}

  async verifyBearer(token: string): Promise<Principal | null> {
    const key = sha256B64u(token);
    let failure: unknown;
    for (const p of this.providers) {
      try {
        const principal = await p.introspect(token, key);
        if (principal) return principal;
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure) throw failure;
    return null;
  }

  async close(): Promise<void> {
    await Promise.all(this.providers.map((p) => p.close()));
  }
}
