import { constants, createHmac, createPublicKey, timingSafeEqual, verify as verifySignature, webcrypto, type KeyObject } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import { readFileSync } from 'node:fs';
import { SignJWT, exportJWK, importPKCS8, type JWK, type JWTPayload } from 'jose';
import { randomToken, sha256B64u } from '../lib/crypto.js';

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

/** A signature check over the signing input (`header.payload`, ASCII). */
type SignatureCheck = (input: Buffer, signature: Buffer) => boolean | Promise<boolean>;

const B64URL = /^[A-Za-z0-9_-]+$/;
const invalid = (message: string) => new OwnTokenError('invalid', message);

/** node:crypto's asynchronous verify: the check runs on the libuv thread pool, the event loop only posts it. */
function asyncCheck(hash: string | null, key: KeyObject, options: { padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' }, length?: number): SignatureCheck {
  const keyInput = { key, ...options };
  return (input, signature) => {
    if (length !== undefined && signature.length !== length) return false;
    return new Promise((resolve, reject) => verifySignature(hash, input, keyInput, signature, (err, ok) => (err ? reject(err) : resolve(ok))));
  };
}

/** The node:crypto check for each algorithm the gateway signs with (RFC 7518 §3, RFC 8037). */
function signatureCheck(alg: string, pub: KeyObject): SignatureCheck {
  switch (alg) {
    case 'RS256':
      return asyncCheck('sha256', pub, { padding: constants.RSA_PKCS1_PADDING });
    case 'PS256':
      return asyncCheck('sha256', pub, { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return asyncCheck('sha256', pub, { dsaEncoding: 'ieee-p1363' }, 64);
    case 'ES384':
      return asyncCheck('sha384', pub, { dsaEncoding: 'ieee-p1363' }, 96);
    case 'EdDSA':
      return asyncCheck(null, pub, {});
    default:
      throw new Error(`unsupported signing algorithm ${alg}`);
  }
}

/**
 * The gateway's own token signer. HS256 with a secret generated on first start
 * and kept in the store (default), or an asymmetric key from a PEM file, whose
 * public half is served at /.well-known/jwks.json.
 *
 * Tokens are signed with jose. They are verified here, without a general JWS
 * parser, because the gateway only ever accepts the exact tokens it issues:
 * the protected header must be byte for byte the one it signs with (so `alg`,
 * `typ` and `kid` are fixed before anything is decoded: no algorithm
 * confusion, no `crit`, no `b64`), the signature is checked by node:crypto with
 * the configured key (asymmetric keys on the thread pool), and only then is
 * the payload parsed and its claims checked. Uncached verification is on the
 * path of every new token; jose's WebCrypto route cost ~28 % more CPU per
 * check and ~40 % more time under load (docs/performance-history.md). A differential
 * test holds the result equal to jose's jwtVerify on valid and tampered tokens.
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
    private readonly signKey: CryptoKey | KeyObject,
    private readonly checkSignature: SignatureCheck,
    readonly kid: string,
    readonly publicJwk: JWK | null,
  ) {
    this.headerPrefix = Buffer.from(JSON.stringify({ alg: algorithm, typ: 'at+jwt', kid })).toString('base64url') + '.';
  }

  static async create(cfg: SigningConfig | undefined, getOrInitSecret: (make: () => string) => Promise<string>): Promise<Signer> {
    if (!cfg || cfg.algorithm === 'HS256') {
      const secret = Buffer.from(await getOrInitSecret(() => randomToken(32)), 'base64url');
      if (secret.length < 32) throw new Error('stored signing secret is shorter than 256 bits');
      const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      // HMAC is cheaper than a thread-pool hop: checked inline, in constant time.
      const check: SignatureCheck = (input, signature) => signature.length === 32 && timingSafeEqual(createHmac('sha256', secret).update(input).digest(), signature);
      return new Signer('HS256', key, check, sha256B64u(secret.toString('base64url')).slice(0, 16), null);
    }
    const pem = readFileSync(cfg.private_key_file!, 'utf8');
    const alg = cfg.algorithm;
    const signKey = await importPKCS8(pem, alg);
    const pub = createPublicKey(pem);
    const jwk = await exportJWK(pub);
    const kid = cfg.key_id ?? sha256B64u(JSON.stringify(jwk)).slice(0, 16);
    return new Signer(alg, signKey, signatureCheck(alg, pub), kid, { ...jwk, kid, alg, use: 'sig' });
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
   * Verify one of our own access tokens: the exact protected header, the
   * signature, then the claims (`iss`, `aud`, required `exp`/`iat`/`sub`/`jti`,
   * `exp` and `nbf` within CLOCK_TOLERANCE_S). Rejects with OwnTokenError.
   */
  async verify(token: string, opts: { issuer: string; audience: string; nowMs: number }): Promise<{ payload: OwnTokenClaims }> {
    const start = this.headerPrefix.length;
    if (!token.startsWith(this.headerPrefix)) throw invalid('The token was not issued by this gateway');
    const dot = token.indexOf('.', start);
    if (dot === -1 || token.indexOf('.', dot + 1) !== -1) throw invalid('The token is malformed');
    const payloadPart = token.slice(start, dot);
    const signaturePart = token.slice(dot + 1);
    if (!B64URL.test(payloadPart) || !B64URL.test(signaturePart)) throw invalid('The token is malformed');

    let ok: boolean;
    try {
      ok = await this.checkSignature(Buffer.from(token.slice(0, dot), 'latin1'), Buffer.from(signaturePart, 'base64url'));
    } catch {
      ok = false;
    }
    if (!ok) throw invalid('The token signature is invalid');

    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
    } catch {
      throw invalid('The token payload is not JSON');
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('The token payload is not a JSON object');
    const c = payload as Record<string, unknown>;
    if (c.iss !== opts.issuer) throw invalid('The token has another issuer');
    if (!(c.aud === opts.audience || (Array.isArray(c.aud) && c.aud.includes(opts.audience)))) throw invalid('The token is meant for another audience');
    if (typeof c.sub !== 'string' || typeof c.jti !== 'string') throw invalid('The token lacks sub or jti');
    if (typeof c.iat !== 'number' || typeof c.exp !== 'number') throw invalid('The token lacks iat or exp');
    const now = Math.floor(opts.nowMs / 1000);
    if (c.nbf !== undefined && (typeof c.nbf !== 'number' || c.nbf > now + CLOCK_TOLERANCE_S)) throw invalid('The token is not yet valid');
    if (c.exp <= now - CLOCK_TOLERANCE_S) throw new OwnTokenError('expired', 'The token has expired');
    return { payload: c as OwnTokenClaims };
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwk ? [this.publicJwk] : [] };
  }
}
