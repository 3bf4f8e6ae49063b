/**
 * Key material named by the config, checked at start: jwt provider keys and
 * the signing key must exist, parse, and fit their algorithms.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { type JwtProviderDef } from './schema.js';

/**
 * jwt provider keys, checked at start: algorithms must fit the key source
 * (HS* only with secret_env; asymmetric only with jwks_uri/public_key_file),
 * HMAC secrets at least as long as the largest hash configured (256 bits
 * minimum), and a public_key_file must exist, parse, and fit the algorithms.
 */
export function checkJwtKeys(p: JwtProviderDef, where: string, problems: string[]): void {
  const hmac = p.algorithms.filter((a) => a.startsWith('HS'));
  const asym = p.algorithms.filter((a) => !a.startsWith('HS'));
  if (p.secret_env && asym.length) problems.push(`${where}.algorithms: ${asym.join(', ')} need a public key (jwks_uri or public_key_file), not secret_env`);
  if (!p.secret_env && hmac.length) problems.push(`${where}.algorithms: ${hmac.join(', ')} need secret_env (HMAC); jwks_uri/public_key_file hold public keys only`);
  if (p.secret !== undefined && hmac.length) {
    const needBits = Math.max(256, ...hmac.map((a) => Number(a.slice(2))));
    const haveBits = Buffer.byteLength(p.secret, 'utf8') * 8;
    if (haveBits < needBits) problems.push(`${where}.secret_env: the secret in ${p.secret_env} is ${haveBits} bits; ${hmac.join('/')} needs at least ${needBits} bits`);
  }
  if (p.public_key_file) {
    if (!existsSync(p.public_key_file)) {
      problems.push(`${where}.public_key_file: file not found: ${p.public_key_file}`);
      return;
    }
    let key: KeyObject;
    try {
      const text = readFileSync(p.public_key_file, 'utf8').trim();
      key = text.startsWith('{') ? createPublicKey({ key: JSON.parse(text), format: 'jwk' }) : createPublicKey(text);
    } catch {
      problems.push(`${where}.public_key_file: not a PEM public key, X.509 certificate or public JWK: ${p.public_key_file}`);
      return;
    }
    for (const a of asym) {
      const problem = keyProblem(a, key);
      if (problem) problems.push(`${where}.algorithms: ${problem} in public_key_file`);
    }
  }
}

/** The signing key file (it exists) must be readable, an unencrypted PEM private key, and fit `alg`. */
export function checkSigningKey(file: string, alg: string, problems: string[]): void {
  const where = 'auth.signing.private_key_file';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(`${where}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): ${file}`);
    return;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    problems.push(`${where}: not an unencrypted PEM private key: ${file}`);
    return;
  }
  const problem = keyProblem(alg, key);
  if (problem) problems.push(`${where}: ${problem}`);
}

/**
 * Why an asymmetric key cannot serve a JWS algorithm (null when it can): the
 * key type or curve must fit, and RSA keys need 2048 bits, jose's minimum for
 * signing and verifying alike (a smaller signing key would pass start-up and
 * fail every token issued).
 */
function keyProblem(alg: string, key: KeyObject): string | null {
  const kind = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const fits: Record<string, boolean> = {
    RS: kind === 'rsa', PS: kind === 'rsa' || kind === 'rsa-pss',
    ES256: curve === 'prime256v1', ES384: curve === 'secp384r1', ES512: curve === 'secp521r1',
    EdDSA: kind === 'ed25519' || kind === 'ed448',
  };
  if (!(fits[alg] ?? fits[alg.slice(0, 2)])) return `${alg} does not fit the ${kind}${curve ? ` (${curve})` : ''} key`;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) return `${alg} needs an RSA key of at least 2048 bits, this one has ${bits}`;
  return null;
}
