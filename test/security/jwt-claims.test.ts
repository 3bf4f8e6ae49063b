/**
 * Claim validation: `iss`, `aud`, `exp` are required and exact; `nbf` and
 * `exp` honour clock skew and nothing more; a signature covers every byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startJwtSecurityApp, type JwtSecurityFixture } from '../helpers/external-auth.js';
import { signRaw } from '../helpers/jwks-server.js';

const nowSec = () => Math.floor(Date.now() / 1000);

describe('security: JWT claims', () => {
  let f: JwtSecurityFixture;
  beforeAll(async () => {
    f = await startJwtSecurityApp();
  });
  afterAll(async () => f.close());

  it('control: tokens from both providers are accepted', async () => {
    expect((await expectAccepted(f.t, f.a.token())).id).toBe('idp-a:alice');
    expect((await expectAccepted(f.t, f.b.token())).id).toBe('idp-b:alice');
  });

  it('an expired token is refused with token_expired', async () => {
    await expectRefused(f, f.a.token({ iat: nowSec() - 3600, exp: nowSec() - 120 }), 'token_expired');
  });

  it('a token whose nbf is in the future (beyond clock skew) is refused', async () => {
    await expectRefused(f, f.a.token({ nbf: nowSec() + 300 }));
  });

  it('a token for another audience is refused', async () => {
    await expectRefused(f, f.a.token({ aud: 'some-other-api' }));
    await expectRefused(f, f.a.token({ aud: ['some-other-api', 'another'] }));
  });

  it('a token without aud is refused', async () => {
    await expectRefused(f, f.a.token({ aud: undefined }));
  });

  it('a token from an unknown issuer is refused', async () => {
    await expectRefused(f, f.a.token({ iss: 'https://evil.idp.test/' }));
  });

  it('issuers match exactly: trailing-slash variants are different issuers', async () => {
    // A is configured as https://a.idp.test/ and B as https://b.idp.test
    await expectRefused(f, f.a.token({ iss: 'https://a.idp.test' }));
    await expectRefused(f, f.b.token({ iss: 'https://b.idp.test/' }));
    await expectRefused(f, f.a.token({ iss: 'HTTPS://A.IDP.TEST/' }));
  });

  it('a token without iss is refused', async () => {
    await expectRefused(f, f.a.token({ iss: undefined }));
  });

  it('a token without exp is refused', async () => {
    await expectRefused(f, f.a.token({ exp: undefined }));
  });

  it('a token with a tampered payload is refused', async () => {
    const [h, , s] = f.a.token().split('.');
    const forged = Buffer.from(JSON.stringify({ iss: f.a.issuer, aud: f.a.audience, sub: 'root', groups: ['admins'], exp: nowSec() + 600 })).toString('base64url');
    await expectRefused(f, `${h}.${forged}.${s}`);
  });

  it('a token with a tampered signature is refused', async () => {
    const token = f.a.token({ sub: 'sig-check' });
    const [h, p, s] = token.split('.');
    const flipped = Buffer.from(s, 'base64url');
    flipped[10] ^= 0x01;
    await expectRefused(f, `${h}.${p}.${flipped.toString('base64url')}`);
    await expectRefused(f, `${h}.${p}.${s.slice(0, -4)}`);
    await expectRefused(f, `${h}.${p}.`);
  });

  it("a token from provider A is refused where only provider B's audience fits", async () => {
    // signed by A, issued as A, but for B's audience
    await expectRefused(f, f.a.token({ aud: f.b.audience }));
    // signed by A's key, claiming to be B
    await expectRefused(f, signRaw({ alg: 'RS256', kid: 'a-1' }, { iss: f.b.issuer, aud: f.b.audience, sub: 'alice', exp: nowSec() + 600 }, f.a.key.privateKey));
    // B's kid, A's key, B's algorithm name
    await expectRefused(f, signRaw({ alg: 'ES256', kid: 'b-1' }, { iss: f.b.issuer, aud: f.b.audience, sub: 'alice', exp: nowSec() + 600 }, f.a.key.privateKey, 'RS256'));
  });
});
