/**
 * The gateway's own access tokens are accepted only in the exact spelling it
 * issues. base64url's last character carries trailing bits that decoders
 * ignore: a 32-byte HS256 signature has 4 spellings of its last character
 * that decode to the same bytes, a 64-byte ES256 signature 16. jose alone
 * accepts all of them; the gateway refuses every spelling but the canonical
 * one (and padded or non-alphabet segments), 401 invalid_token on the
 * management API and on /mcp, with nothing reaching the upstream.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startGuardedApp, type Guarded } from '../helpers/external-auth.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The other spellings of the segment's last character that decode to the same bytes. */
function alternativeSpellings(segment: string): string[] {
  const bytes = Buffer.from(segment, 'base64url');
  return [...ALPHABET]
    .map((c) => segment.slice(0, -1) + c)
    .filter((s) => s !== segment && Buffer.from(s, 'base64url').equals(bytes));
}

const dir = mkdtempSync(join(tmpdir(), 'pcl-canonical-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function ecKeyFile(): string {
  const f = join(dir, 'es256.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f], { stdio: 'ignore' });
  return f;
}

for (const { alg, signing, alternatives } of [
  { alg: 'HS256', signing: undefined, alternatives: 3 },
  { alg: 'ES256', signing: () => ({ algorithm: 'ES256', private_key_file: ecKeyFile() }), alternatives: 15 },
]) {
  describe(`security: a ${alg} gateway token is accepted only in its canonical base64url spelling`, () => {
    let g: Guarded & { close(): Promise<void> };
    let token: string;
    let userId: string;

    beforeAll(async () => {
      g = await startGuardedApp({ config: signing ? { auth: { signing: signing() } } : {} });
      const r = await g.t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: `canonical-${alg}@example.com`, password: 'correct horse battery' } });
      expect(r.statusCode).toBe(201);
      ({ token } = r.json());
      userId = r.json().user.id;
      await g.t.store.users.update(userId, { groups: ['eng'] });
      g.t.app.services.bus.publish({ kind: 'user', id: userId });
      expect(g.t.app.services.signer.algorithm).toBe(alg);
    });
    afterAll(async () => g?.close());

    const [h, p, sig] = (() => [0, 1, 2].map((i) => () => token.split('.')[i]))();

    it('control: the issued token is accepted on the API and reaches the upstream through /mcp', async () => {
      expect((await expectAccepted(g.t, token)).id).toBe(userId);
      const m = await g.t.inject({
        method: 'POST',
        url: '/mcp/demo',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'canonical', version: '1' } } },
      });
      expect(m.statusCode, m.body).toBe(200);
      expect(g.upstream.methods()).toContain('initialize');
    });

    it(`jose alone accepts the ${alternatives} other spellings of the signature's last character (the check is the gateway's own)`, async () => {
      const alt = alternativeSpellings(sig());
      expect(alt).toHaveLength(alternatives);
      const { signer, auth } = g.t.app.services;
      const key = signer.publicJwk
        ? await importJWK(signer.publicJwk, alg)
        : new Uint8Array(Buffer.from((await g.t.store.settings.get('signing_hs256_secret'))!, 'base64url'));
      await expect(jwtVerify(token, key, { issuer: auth.tokenIssuer, audience: auth.tokenAudience })).resolves.toBeDefined();
      for (const s of alt) {
        const variant = `${h()}.${p()}.${s}`;
        await expect(jwtVerify(variant, key, { issuer: auth.tokenIssuer, audience: auth.tokenAudience })).resolves.toBeDefined();
        await expect(signer.verify(variant, { issuer: auth.tokenIssuer, audience: auth.tokenAudience, nowMs: Date.now() })).rejects.toMatchObject({ reason: 'invalid' });
      }
    });

    it(`each of the ${alternatives} other spellings of the signature is refused 401 invalid_token on /api/v1 and /mcp, and the upstream sees nothing`, async () => {
      await expectAccepted(g.t, token); // the canonical token is in the verified cache: the variants must not ride on it
      const alt = alternativeSpellings(sig());
      expect(alt).toHaveLength(alternatives);
      for (const s of alt) await expectRefused(g, `${h()}.${p()}.${s}`);
      expect((await expectAccepted(g.t, token)).id).toBe(userId);
    });

    it('a padded signature, or one with a character outside the base64url alphabet, is refused and nothing reaches the upstream', async () => {
      const s = sig();
      await expectRefused(g, `${h()}.${p()}.${s}=`);
      await expectRefused(g, `${h()}.${p()}.${s}==`);
      // "+" and "/" are base64 (not base64url) and decode to the same bytes as "-" and "_" in Node.
      const std = Buffer.from(s, 'base64url').toString('base64').replace(/=+$/, '');
      if (std !== s) await expectRefused(g, `${h()}.${p()}.${std}`);
      await expectRefused(g, `${h()}.${p()}.${s.slice(0, 10)}+${s.slice(11)}`);
      await expectRefused(g, `${h()}.${p()}.${s.slice(0, 10)}%${s.slice(11)}`);
    });

    it('a payload segment in another spelling is refused before any signature check', async () => {
      const { signer, auth } = g.t.app.services;
      const alt = alternativeSpellings(p());
      for (const s of alt) {
        await expect(signer.verify(`${h()}.${s}.${sig()}`, { issuer: auth.tokenIssuer, audience: auth.tokenAudience, nowMs: Date.now() })).rejects.toThrow(/canonical/);
        await expectRefused(g, `${h()}.${s}.${sig()}`);
      }
      await expectRefused(g, `${h()}.${p()}=.${sig()}`);
    });
  });
}
