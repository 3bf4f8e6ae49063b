/**
 * A real local identity-provider stand-in for tests: an HTTP server on
 * 127.0.0.1:0 serving a JWKS document (mutable, for rotation), counting the
 * requests it gets, able to fail (HTTP 500), hang (timeout) or go away; plus
 * key generation and raw JWT signing that bypasses library safety checks so
 * tests can forge hostile tokens.
 */
import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

export type SignAlg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'HS256' | 'HS384' | 'HS512';

export interface TestKey {
  kid: string;
  alg: SignAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK with kid, alg and use. */
  jwk: Record<string, unknown>;
  /** SPKI PEM of the public key. */
  publicPem: string;
}

export function makeKey(alg: Exclude<SignAlg, 'HS256' | 'HS384' | 'HS512'>, kid: string): TestKey {
  const pair =
    alg === 'RS256' || alg === 'PS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'prime256v1' : 'secp384r1' });
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
  return { kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk, publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * Sign `payload` with exactly the header given (no library checks), so tests
 * can produce tokens with `jwk`, `jku`, `crit`, odd `kid`s or a mismatched alg.
 */
export function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject | Buffer | string, alg = String(header.alg)): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  let sig: Buffer;
  if (alg.startsWith('HS')) {
    sig = createHmac(`sha${alg.slice(2)}`, key as Buffer | string).update(input).digest();
  } else if (alg === 'EdDSA') {
    sig = cryptoSign(null, Buffer.from(input), key as KeyObject);
  } else if (alg.startsWith('ES')) {
    sig = cryptoSign(`sha${alg.slice(2)}`, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  } else if (alg.startsWith('PS')) {
    sig = cryptoSign(`sha${alg.slice(2)}`, Buffer.from(input), { key: key as KeyObject, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: Number(alg.slice(2)) / 8 });
  } else {
    sig = cryptoSign(`sha${alg.slice(2)}`, Buffer.from(input), key as KeyObject);
  }
  return `${input}.${sig.toString('base64url')}`;
}

/** A token with the usual claims (`iat`, `exp` one hour ahead unless given) signed with `key`. */
export function signToken(key: TestKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const iat = Math.floor(Date.now() / 1000);
  return signRaw({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }, { iat, exp: iat + 3600, ...claims }, key.privateKey, String(header.alg ?? key.alg));
}

/** An unsigned (`alg: none`-style) token with the given alg spelling. */
export function unsignedToken(alg: string, payload: Record<string, unknown>): string {
  return `${b64u({ alg, typ: 'JWT' })}.${b64u(payload)}.`;
}

export type JwksMode = 'ok' | 'error' | 'hang';

export interface JwksServer {
  /** The JWKS URL. */
  url: string;
  /** http://127.0.0.1:port (for building issuers or other paths). */
  origin: string;
  /** Requests received, by path. */
  requests: { path: string; headers: IncomingMessage['headers'] }[];
  setKeys(keys: TestKey[] | Record<string, unknown>[]): void;
  setMode(mode: JwksMode): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: TestKey[] = [], path = '/.well-known/jwks.json'): Promise<JwksServer> {
  let doc = { keys: keys.map((k) => k.jwk) };
  let mode: JwksMode = 'ok';
  const requests: JwksServer['requests'] = [];
  const hanging = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', headers: req.headers });
    if (mode === 'hang') {
      hanging.add(() => res.destroy());
      return;
    }
    if (mode === 'error' || req.url !== path) {
      res.writeHead(mode === 'error' ? 500 : 404, { 'content-type': 'application/json' }).end('{"error":"nope"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: origin + path,
    origin,
    requests,
    setKeys(k) {
      doc = { keys: k.map((x) => ('jwk' in x && 'privateKey' in x ? (x as TestKey).jwk : x)) as Record<string, unknown>[] };
    },
    setMode(m) {
      mode = m;
    },
    async close() {
      for (const h of hanging) h();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (a port we opened and closed). */
export async function deadUrl(path = '/jwks.json'): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}${path}`;
}
