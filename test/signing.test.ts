import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Signer } from '../src/auth/signing.js';

const ecKey = () => {
  const f = join(mkdtempSync(join(tmpdir(), 'pcl-sign-')), 'k.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f], { stdio: 'ignore' });
  return f;
};

describe('Signer', () => {
  // The authenticator routes tokens to our own verifier by this prefix alone:
  // if jose serialized the header differently, every own token would be refused.
  for (const [name, cfg] of [
    ['HS256 with a stored secret', undefined],
    ['ES256 from a PEM file', { algorithm: 'ES256', private_key_file: ecKey() }],
  ] as const) {
    it(`${name}: every issued token starts with headerPrefix and verifies`, async () => {
      let secret: string | undefined;
      const signer = await Signer.create(cfg, async (make) => (secret ??= make()));
      const token = await signer.sign({ pct: 'user' }, { issuer: 'https://gw', audience: 'https://gw', subject: 's', jti: 'j', ttlMs: 60_000, nowMs: Date.now() });
      expect(token.startsWith(signer.headerPrefix)).toBe(true);
      const { payload } = await signer.verify(token, { issuer: 'https://gw', audience: 'https://gw', nowMs: Date.now() });
      expect(payload.sub).toBe('s');
      expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toEqual({ alg: signer.algorithm, typ: 'at+jwt', kid: signer.kid });
    });
  }
});
