import { createPublicKey, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, errors as joseErrors, exportJWK, importJWK, importPKCS8, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { isCanonicalBase64url, randomToken, sha256B64u } from '../lib/crypto.js';

type CryptoKey = webcrypto.CryptoKey;

export interface SigningConfig {
  algorithm: string;
  private_key_file?: string;
  key_id?: string;
}

/** Why one of our own tokens was refused: `expired` (exp passed), or `invalid` (anything else). */
export class OwnTokenError extends Error {
  constructor(
    readonly reason: 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'OwnTokenError';
  }
}

/** Seconds of clock skew allowed on exp and nbf (between replicas, or a replica and its clients). */
export const CLOCK_TOLERANCE_S = 5;

/** The claims of a verified own token: the required ones typed, the rest as issued. */
export type OwnTokenClaims = Record<string, unknown> & { sub: string; jti: string; iat: number; exp: number };

const invalid = (message: string) => new OwnTokenError('invalid', message);

/**
 * The gateway's own token signer. HS256 with a secret generated on first start
 * and kept in the store (default), or an asymmetric key from a PEM file, whose
 * public half is served at /.well-known/jwks.json.
 *
 * Tokens are signed and verified with jose. The gateway only ever accepts the
 * exact tokens it issues, so before jose sees a token its protected header
 * must be byte for byte the one this signer writes (`alg`, `typ` and `kid`
 * fixed: no algorithm confusion, no `crit`, no `b64`), and every segment must
 * be the canonical base64url spelling of its bytes: no padding, no character
 * outside the alphabet, and no non-zero trailing bits in the last character.
 * Base64url decoders (jose's included) ignore those trailing bits, so without
 * this rule one token would have several accepted spellings, which the
 * verified-token cache, logs and denylists keyed by the token string count
 * as different tokens.
 */
export class Signer {
  /**
   * The protected-header segment every token this signer issues starts with
   * (`base64url({"alg","typ","kid"})` + "."). The authenticator routes by it
   * without decoding anything; verification requires it exactly.
   */
  readonly headerPrefix: string;

  private constructor(
    readonly algorithm: string,
    private readonly signKey: CryptoKey,
    private readonly verifyKey: CryptoKey,
    readonly kid: string,
    readonly publicJwk: JWK | null,
  ) {
    this.headerPrefix = Buffer.from(JSON.stringify({ alg: algorithm, typ: 'at+jwt', kid })).toString('base64url') + '.';
  }

  static async create(cfg: SigningConfig | undefined, getOrInitSecret: (make: () => string) => Promise<string>): Promise<Signer> {
    if (!cfg || cfg.algorithm === 'HS256') {
      const secret = Buffer.from(await getOrInitSecret(() => randomToken(32)), 'base64url');
      if (secret.length < 32) throw new Error('stored signing secret is shorter than 256 bits');
      const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      return new Signer('HS256', key, key, sha256B64u(secret.toString('base64url')).slice(0, 16), null);
    }
    const pem = readFileSync(cfg.private_key_file!, 'utf8');
    const alg = cfg.algorithm;
    const signKey = await importPKCS8(pem, alg);
    const jwk = await exportJWK(createPublicKey(pem));
    const kid = cfg.key_id ?? sha256B64u(JSON.stringify(jwk)).slice(0, 16);
    const verifyKey = (await importJWK(jwk, alg)) as CryptoKey;
    return new Signer(alg, signKey, verifyKey, kid, { ...jwk, kid, alg, use: 'sig' });
  }

  sign(payload: JWTPayload, opts: { issuer: string; audience: string; subject: string; jti: string; ttlMs: number; nowMs: number }): Promise<string> {
    const iat = Math.floor(opts.nowMs / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({ alg: this.algorithm, typ: 'at+jwt', kid: this.kid })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setJti(opts.jti)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.max(1, Math.floor(opts.ttlMs / 1000)))
      .sign(this.signKey);
  }

  /**
   * Verify one of our own access tokens: the exact protected header and the
   * canonical spelling of every segment, then jose's jwtVerify with the
   * algorithm, `typ`, `iss`, `aud` and required claims (`exp`, `iat`, `sub`,
   * `jti`) pinned, `exp` and `nbf` judged at `nowMs` within
   * CLOCK_TOLERANCE_S. Rejects with OwnTokenError.
   */
  async verify(token: string, opts: { issuer: string; audience: string; nowMs: number }): Promise<{ payload: OwnTokenClaims }> {
    if (!token.startsWith(this.headerPrefix)) throw invalid('The token was not issued by this gateway');
    const segments = token.split('.');
    if (segments.length !== 3) throw invalid('The token is malformed');
    if (!segments.every(isCanonicalBase64url)) throw invalid('The token is not in canonical base64url form');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.verifyKey, {
        algorithms: [this.algorithm],
        typ: 'at+jwt',
        issuer: opts.issuer,
        audience: opts.audience,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        currentDate: new Date(opts.nowMs),
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new OwnTokenError('expired', 'The token has expired');
      throw invalid(e instanceof Error ? e.message : 'The token was refused');
    }
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') throw invalid('The token lacks sub or jti');
    return { payload: payload as OwnTokenClaims };
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwk ? [this.publicJwk] : [] };
  }
}
