/**
 * Hostile JOSE headers: every token here is refused before or by signature
 * verification, and none of them makes the gateway fetch a key from a place
 * the token names.
 */
import { CompactEncrypt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startJwtSecurityApp, type JwtSecurityFixture } from '../helpers/external-auth.js';
import { makeKey, signRaw, startJwksServer, unsignedToken, type JwksServer, type TestKey } from '../helpers/jwks-server.js';

describe('security: hostile JWT headers', () => {
  let f: JwtSecurityFixture;
  let evil: JwksServer;
  let attacker: TestKey;
  const claims = () => ({ iss: f.a.issuer, aud: f.a.audience, sub: 'mallory', groups: ['eng'], exp: Math.floor(Date.now() / 1000) + 600 });

  beforeAll(async () => {
    f = await startJwtSecurityApp();
    attacker = makeKey('RS256', 'a-1'); // same kid as the real key
    evil = await startJwksServer([attacker, { ...attacker.jwk, kid: 'evil-1' } as never]);
  });
  afterAll(async () => {
    await f.close();
    await evil.close();
  });

  it('control: a properly signed token from provider A is accepted', async () => {
    const me = await expectAccepted(f.t, f.a.token());
    expect(me).toMatchObject({ id: 'idp-a:alice', groups: ['eng'], auth: { method: 'jwt', provider: 'idp-a' } });
  });

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`a token with alg "${alg}" is refused`, async () => {
      await expectRefused(f, unsignedToken(alg, claims()));
      // with a signature segment copied from a real token, too
      const real = f.a.token();
      await expectRefused(f, unsignedToken(alg, claims()) + real.split('.')[2]);
    });
  }

  it('a token signed HS256 with the RSA public key is refused', async () => {
    await expectRefused(f, signRaw({ alg: 'HS256', kid: 'a-1', typ: 'JWT' }, claims(), f.a.key.publicPem));
    await expectRefused(f, signRaw({ alg: 'HS256', kid: 'a-1', typ: 'JWT' }, claims(), JSON.stringify(f.a.key.jwk)));
  });

  it('an embedded jwk header is never used as the key', async () => {
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'a-1', jwk: attacker.jwk }, claims(), attacker.privateKey));
    await expectRefused(f, signRaw({ alg: 'RS256', jwk: attacker.jwk }, claims(), attacker.privateKey));
  });

  it('jku and x5u headers pointing elsewhere are never fetched', async () => {
    const before = f.a.jwks.requests.length;
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'evil-1', jku: evil.url }, claims(), attacker.privateKey));
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'a-1', jku: evil.url }, claims(), attacker.privateKey));
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'evil-1', x5u: `${evil.origin}/cert.pem` }, claims(), attacker.privateKey));
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'a-1', x5c: ['MIIB'] }, claims(), attacker.privateKey));
    expect(evil.requests).toEqual([]);
    // only the configured JWKS URL was ever asked (an unknown kid may trigger one refresh of it)
    for (const r of f.a.jwks.requests.slice(before)) expect(r.path).toBe('/.well-known/jwks.json');
  });

  it('a kid with path traversal is refused', async () => {
    await expectRefused(f, signRaw({ alg: 'RS256', kid: '../../etc/passwd' }, claims(), f.a.key.privateKey));
    await expectRefused(f, signRaw({ alg: 'RS256', kid: '../../../../dev/null' }, claims(), attacker.privateKey));
  });

  it('an unknown crit header parameter is refused', async () => {
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'a-1', crit: ['x-must-understand'], 'x-must-understand': true }, claims(), f.a.key.privateKey));
  });

  it('a JWE compact token is refused where a JWS is expected', async () => {
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims())))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'a-1' })
      .encrypt(f.a.key.publicKey);
    expect(jwe.split('.')).toHaveLength(5);
    await expectRefused(f, jwe);
  });

  it('an oversized token is refused before parsing', async () => {
    await expectRefused(f, f.a.token({ padding: 'x'.repeat(9000) }));
    // a header alone too large to decode, inside the overall cap
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'k'.repeat(3000) }, claims(), f.a.key.privateKey));
  });
});
