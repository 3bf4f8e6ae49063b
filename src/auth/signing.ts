import { createPublicKey, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import { readFileSync } from 'node:fs';
import { SignJWT, exportJWK, importJWK, importPKCS8, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { randomToken, sha256B64u } from '../lib/crypto.js';

export interface SigningConfig {
  algorithm: string;
  private_key_file?: string;
  key_id?: string;
}

/**
 * The gateway's own token signer. HS256 with a secret generated on first start
 * and kept in the store (default), or an asymmetric key from a PEM file, whose
 * public half is served at /.well-known/jwks.json.
 */
export class Signer {
  /**
   * The protected-header segment every token this signer issues starts with
   * (`base64url({"alg","typ","kid"})` + "."). The authenticator routes by it
   * without decoding anything; verification still checks everything.
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
    const pub = createPublicKey(pem);
    const jwk = await exportJWK(pub);
    const kid = cfg.key_id ?? sha256B64u(JSON.stringify(jwk)).slice(0, 16);
    const verifyKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
    return new Signer(alg, signKey as CryptoKey, verifyKey, kid, { ...jwk, kid, alg, use: 'sig' });
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

  /** Verify one of our own access tokens. Throws jose errors on any failure. */
  async verify(token: string, opts: { issuer: string; audience: string; nowMs: number }) {
    return jwtVerify(token, this.verifyKey, {
      algorithms: [this.algorithm],
      issuer: opts.issuer,
      audience: opts.audience,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      currentDate: new Date(opts.nowMs),
      clockTolerance: 5,
    });
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwk ? [this.publicJwk] : [] };
  }
}
