/**
 * The gateway verifies its own access tokens (src/auth/signing.ts): exact
 * protected header and canonical segments, then jose's jwtVerify with the
 * algorithm, typ, issuer, audience and required claims pinned. These tests
 * hold the result to a plain jwtVerify with those options on valid and
 * tampered tokens for every signing algorithm (a differential test), check
 * each refusal on its own, and at the HTTP surfaces check status, code,
 * challenge and that nothing reached the upstream.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, SignJWT, errors as joseErrors, importJWK, importPKCS8, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_TOLERANCE_S, OwnTokenError, Signer } from '../../src/auth/signing.js';
import { expectAccepted, expectRefused, startGuardedApp, type Guarded } from '../helpers/external-auth.js';

const ISS = 'https://gw.example';
const AUD = 'https://gw.example';
const nowSec = () => Math.floor(Date.now() / 1000);

const dir = mkdtempSync(join(tmpdir(), 'pcl-own-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function keyFile(name: string, args: string[]): string {
  const f = join(dir, `${name}.pem`);
  execFileSync('openssl', ['genpkey', ...args, '-out', f], { stdio: 'ignore' });
  return f;
}

type Outcome = 'ok' | 'expired' | 'invalid';

interface Fixture {
  signer: Signer;
  /** The key the signer signs with (for crafting tokens the signer would never issue). */
  privateKey: CryptoKey | Uint8Array;
  /** Another key of the same algorithm (a forger's). */
  otherKey: CryptoKey | Uint8Array;
  /** What jose's jwtVerify verifies with (the signer's public half, or the secret). */
  verifyKey: CryptoKey | Uint8Array;
}

const ALGS: { alg: string; args?: string[] }[] = [
  { alg: 'HS256' },
  { alg: 'RS256', args: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
  { alg: 'PS256', args: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
  { alg: 'ES256', args: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
  { alg: 'ES384', args: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'] },
  { alg: 'EdDSA', args: ['-algorithm', 'ED25519'] },
];

async function fixture(alg: string, args?: string[]): Promise<Fixture> {
  if (alg === 'HS256') {
    let secret: string | undefined;
    const signer = await Signer.create(undefined, async (make) => (secret ??= make()));
    const key = new Uint8Array(Buffer.from(secret!, 'base64url'));
    return { signer, privateKey: key, otherKey: new Uint8Array(32).fill(7), verifyKey: key };
  }
  const file = keyFile(alg, args!);
  const signer = await Signer.create({ algorithm: alg, private_key_file: file }, async () => {
    throw new Error('no secret for asymmetric keys');
  });
  return {
    signer,
    privateKey: (await importPKCS8(readFileSync(file, 'utf8'), alg)) as CryptoKey,
    otherKey: (await importPKCS8(readFileSync(keyFile(`${alg}-other`, args!), 'utf8'), alg)) as CryptoKey,
    verifyKey: (await importJWK(signer.jwks().keys[0], alg)) as CryptoKey,
  };
}

const header = (f: Fixture) => ({ alg: f.signer.algorithm, typ: 'at+jwt', kid: f.signer.kid });
const claims = (over: Record<string, unknown> = {}): JWTPayload => {
  const base: Record<string, unknown> = { iss: ISS, aud: AUD, sub: 'user-1', jti: 'jti-1', iat: nowSec(), exp: nowSec() + 600, pct: 'user', ...over };
  for (const k of Object.keys(base)) if (base[k] === undefined) delete base[k];
  return base as JWTPayload;
};
const signWith = (f: Fixture, payload: JWTPayload, key = f.privateKey, hdr: Record<string, unknown> = header(f)) =>
  new SignJWT(payload).setProtectedHeader(hdr as { alg: string }).sign(key);
const signBytes = (f: Fixture, bytes: string) => new CompactSign(new TextEncoder().encode(bytes)).setProtectedHeader(header(f)).sign(f.privateKey);

async function ours(f: Fixture, token: string): Promise<Outcome> {
  try {
    await f.signer.verify(token, { issuer: ISS, audience: AUD, nowMs: Date.now() });
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(OwnTokenError);
    return (e as OwnTokenError).reason;
  }
}

/** What a plain jose jwtVerify decides, with the options the gateway pins. */
async function joses(f: Fixture, token: string): Promise<Outcome> {
  try {
    await jwtVerify(token, f.verifyKey, {
      algorithms: [f.signer.algorithm],
      issuer: ISS,
      audience: AUD,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      currentDate: new Date(),
      clockTolerance: CLOCK_TOLERANCE_S,
    });
    return 'ok';
  } catch (e) {
    return e instanceof joseErrors.JWTExpired ? 'expired' : 'invalid';
  }
}

function flipSignature(token: string): string {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[5] ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

for (const { alg, args } of ALGS) {
  describe(`own access tokens, ${alg}`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await fixture(alg, args);
    });

    /** Tokens the two verifiers must agree on, with the outcome both must give. */
    async function corpus(): Promise<[string, string, Outcome][]> {
      const good = await f.signer.sign({ pct: 'user' }, { issuer: ISS, audience: AUD, subject: 'user-1', jti: 'j1', ttlMs: 600_000, nowMs: Date.now() });
      const [h, p, s] = good.split('.');
      const forgedPayload = Buffer.from(JSON.stringify(claims({ sub: 'admin' }))).toString('base64url');
      return [
        ['an issued token', good, 'ok'],
        ['a crafted valid token (aud as an array)', await signWith(f, claims({ aud: ['other', AUD] })), 'ok'],
        ['exp passed but within the clock tolerance', await signWith(f, claims({ exp: nowSec() - (CLOCK_TOLERANCE_S - 2) })), 'ok'],
        ['nbf ahead but within the clock tolerance', await signWith(f, claims({ nbf: nowSec() + (CLOCK_TOLERANCE_S - 2) })), 'ok'],
        ['exp passed', await signWith(f, claims({ iat: nowSec() - 3600, exp: nowSec() - 60 })), 'expired'],
        ['a tampered payload', `${h}.${forgedPayload}.${s}`, 'invalid'],
        ['a tampered signature', flipSignature(good), 'invalid'],
        ['a truncated signature', `${h}.${p}.${s.slice(0, -4)}`, 'invalid'],
        ['an empty signature', `${h}.${p}.`, 'invalid'],
        ['bytes appended to the signature', `${h}.${p}.${s}AAAA`, 'invalid'],
        ['a fourth segment', `${good}.${s}`, 'invalid'],
        ['a non-base64url character in the payload', `${h}.${p.slice(0, 10)}*${p.slice(11)}.${s}`, 'invalid'],
        ["another key's signature under this header", await signWith(f, claims(), f.otherKey), 'invalid'],
        ['another issuer', await signWith(f, claims({ iss: 'https://evil.example' })), 'invalid'],
        ['another audience', await signWith(f, claims({ aud: 'https://other.example' })), 'invalid'],
        ['no audience', await signWith(f, claims({ aud: undefined })), 'invalid'],
        ['no exp', await signWith(f, claims({ exp: undefined })), 'invalid'],
        ['no iat', await signWith(f, claims({ iat: undefined })), 'invalid'],
        ['no jti', await signWith(f, claims({ jti: undefined })), 'invalid'],
        ['no sub', await signWith(f, claims({ sub: undefined })), 'invalid'],
        ['exp as a string', await signWith(f, claims({ exp: String(nowSec() + 600) })), 'invalid'],
        ['iat as a string', await signWith(f, claims({ iat: String(nowSec()) })), 'invalid'],
        ['nbf in the future', await signWith(f, claims({ nbf: nowSec() + 300 })), 'invalid'],
        ['nbf as a string', await signWith(f, claims({ nbf: String(nowSec()) })), 'invalid'],
        ['a payload that is not JSON', await signBytes(f, 'hello'), 'invalid'],
        ['a payload that is a JSON array', await signBytes(f, JSON.stringify([claims()])), 'invalid'],
        ['a payload that is JSON null', await signBytes(f, 'null'), 'invalid'],
        ['another typ', await signWith(f, claims(), f.privateKey, { ...header(f), typ: 'JWT' }), 'invalid'],
        ['another kid', await signWith(f, claims(), f.privateKey, { ...header(f), kid: 'other' }), 'invalid'],
        ['the header members in another order', await signWith(f, claims(), f.privateKey, { kid: f.signer.kid, typ: 'at+jwt', alg: f.signer.algorithm }), 'invalid'],
        ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: f.signer.kid })).toString('base64url')}.${p}.`, 'invalid'],
      ];
    }

    it('agrees with jose on valid and tampered tokens, with the expected outcome for each', async () => {
      const rows = await corpus();
      const got = await Promise.all(rows.map(async ([name, token]) => ({ name, ours: await ours(f, token), jose: await joses(f, token) })));
      const expected = rows.map(([name, , outcome]) => ({ name, ours: outcome, jose: outcome }));
      // Where ours is the stricter: correctly signed headers jose accepts (it was given the key, so
      // it ignores kid and the members' order) but the gateway never writes.
      for (const r of expected) if (r.name === 'another kid' || r.name === 'the header members in another order') r.jose = 'ok';
      expect(got).toEqual(expected);
    });

    it('returns the claims of an issued token', async () => {
      const token = await f.signer.sign({ pct: 'sa', scope_list: ['mcp:execute'] }, { issuer: ISS, audience: AUD, subject: 's-9', jti: 'j-9', ttlMs: 60_000, nowMs: Date.now() });
      const { payload } = await f.signer.verify(token, { issuer: ISS, audience: AUD, nowMs: Date.now() });
      expect(payload).toMatchObject({ iss: ISS, aud: AUD, sub: 's-9', jti: 'j-9', pct: 'sa', scope_list: ['mcp:execute'] });
    });

    it('a token of this gateway is refused by a signer with another key', async () => {
      const other = await fixture(alg, args);
      const token = await f.signer.sign({}, { issuer: ISS, audience: AUD, subject: 's', jti: 'j', ttlMs: 60_000, nowMs: Date.now() });
      // Same algorithm, but (except for a shared key id) another prefix or another key: never accepted.
      await expect(other.signer.verify(token, { issuer: ISS, audience: AUD, nowMs: Date.now() })).rejects.toMatchObject({ reason: 'invalid' });
    });

    it('expiry is judged at the time given, with the clock tolerance', async () => {
      const t0 = Date.now();
      const token = await f.signer.sign({}, { issuer: ISS, audience: AUD, subject: 's', jti: 'j', ttlMs: 60_000, nowMs: t0 });
      const exp = Math.floor(t0 / 1000) + 60;
      const at = (sec: number) => f.signer.verify(token, { issuer: ISS, audience: AUD, nowMs: sec * 1000 });
      await expect(at(exp + CLOCK_TOLERANCE_S - 1)).resolves.toBeDefined();
      await expect(at(exp + CLOCK_TOLERANCE_S)).rejects.toMatchObject({ reason: 'expired' });
    });
  });
}

describe('own access tokens at the HTTP surfaces (management API and /mcp)', () => {
  let g: Guarded & { close(): Promise<void> };
  let userId: string;
  let token: string;
  beforeAll(async () => {
    g = await startGuardedApp();
    const r = await g.t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'own-token@example.com', password: 'correct horse battery' } });
    expect(r.statusCode).toBe(201);
    ({ token } = r.json());
    userId = r.json().user.id;
  });
  afterAll(async () => g.close());

  const issue = (nowMs: number, ttlMs = 600_000) => {
    const { signer, auth } = g.t.app.services;
    return signer.sign({ pct: 'user' }, { issuer: auth.tokenIssuer, audience: auth.tokenAudience, subject: userId, jti: `j-${nowMs}`, ttlMs, nowMs });
  };

  it('control: the login token and a freshly issued one are accepted', async () => {
    expect((await expectAccepted(g.t, token)).id).toBe(userId);
    expect((await expectAccepted(g.t, await issue(Date.now()))).id).toBe(userId);
  });

  it('an expired own token is refused with token_expired, and nothing reaches the upstream', async () => {
    await expectRefused(g, await issue(Date.now() - 3_600_000, 60_000), 'token_expired');
  });

  it('a tampered payload or signature is refused with invalid_token, and nothing reaches the upstream', async () => {
    const [h, p, sig] = token.split('.');
    const claimsNow = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claimsNow, scope_list: ['admin'], exp: claimsNow.exp + 86_400 })).toString('base64url');
    await expectRefused(g, `${h}.${forged}.${sig}`);
    await expectRefused(g, flipSignature(token));
  });

  it("a token under the gateway's exact header but signed with another key is refused", async () => {
    const { signer, auth } = g.t.app.services;
    const payload = { iss: auth.tokenIssuer, aud: auth.tokenAudience, sub: userId, jti: 'forged', pct: 'user', iat: nowSec(), exp: nowSec() + 600 };
    const forged = await new SignJWT(payload).setProtectedHeader({ alg: signer.algorithm, typ: 'at+jwt', kid: signer.kid }).sign(new Uint8Array(32).fill(9));
    expect(forged.startsWith(signer.headerPrefix)).toBe(true);
    await expectRefused(g, forged);
  });
});
