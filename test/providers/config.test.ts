import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const jwt = (extra: Record<string, unknown>) => ({ type: 'jwt', name: 'idp', issuer: 'https://idp.test', audience: 'portcullis', ...extra });
function problems(providers: unknown[], env: Record<string, string> = {}, cwd?: string): string[] {
  try {
    loadConfig({ object: { auth: { providers } }, env, cwd });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe('auth.providers load-time checks', () => {
  it('accepts jwt, introspection and static providers', () => {
    expect(
      problems(
        [
          jwt({ algorithms: ['RS256'], jwks_uri: 'https://idp.test/jwks' }),
          { type: 'introspection', name: 'intro', url: 'https://idp.test/introspect', client_id_env: 'CID', client_secret_env: 'CSEC' },
          { type: 'static', name: 'dev', tokens: [{ name: 'bot', token_env: 'BOT' }, { name: 'hashed', token_sha256: 'a'.repeat(64) }] },
        ],
        { CID: 'id', CSEC: 'secret', BOT: 'x'.repeat(40) },
      ),
    ).toEqual([]);
  });

  it('refuses an HMAC secret shorter than 256 bits', () => {
    const p = problems([jwt({ algorithms: ['HS256'], secret_env: 'S' })], { S: 'x'.repeat(31) });
    expect(p.join('\n')).toMatch(/auth\.providers\[0\]\.secret_env: .*248 bits.*at least 256 bits/);
    expect(problems([jwt({ algorithms: ['HS256'], secret_env: 'S' })], { S: 'x'.repeat(32) })).toEqual([]);
  });

  it('HS384/HS512 need a secret at least the hash size', () => {
    expect(problems([jwt({ algorithms: ['HS512'], secret_env: 'S' })], { S: 'x'.repeat(48) }).join()).toMatch(/at least 512 bits/);
    expect(problems([jwt({ algorithms: ['HS384'], secret_env: 'S' })], { S: 'x'.repeat(40) }).join()).toMatch(/at least 384 bits/);
    expect(problems([jwt({ algorithms: ['HS512'], secret_env: 'S' })], { S: 'x'.repeat(64) })).toEqual([]);
  });

  it('the algorithms must fit the key source', () => {
    expect(problems([jwt({ algorithms: ['HS256'], jwks_uri: 'https://idp.test/jwks' })]).join()).toMatch(/HS256 need secret_env/);
    expect(problems([jwt({ algorithms: ['RS256', 'HS256'], secret_env: 'S' })], { S: 'x'.repeat(64) }).join()).toMatch(/RS256 need a public key/);
  });

  it('exactly one key source', () => {
    expect(problems([jwt({ algorithms: ['RS256'] })]).join()).toMatch(/exactly one of jwks_uri, public_key_file, secret_env/);
  });

  it('a secret written in the file is refused', () => {
    expect(problems([jwt({ algorithms: ['HS256'], secret_env: 'S', secret: 'inline' })], { S: 'x'.repeat(32) }).join()).toMatch(/secret: not allowed in the file/);
  });

  it('public_key_file must exist, parse, and fit the algorithms', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'ec.pem'), ec.publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(join(dir, 'ec.jwk'), JSON.stringify(ec.publicKey.export({ format: 'jwk' })));
    writeFileSync(join(dir, 'garbage.pem'), 'not a key');
    expect(problems([jwt({ algorithms: ['ES256'], public_key_file: 'ec.pem' })], {}, dir)).toEqual([]);
    expect(problems([jwt({ algorithms: ['ES256'], public_key_file: 'ec.jwk' })], {}, dir)).toEqual([]);
    expect(problems([jwt({ algorithms: ['ES256'], public_key_file: 'missing.pem' })], {}, dir).join()).toMatch(/public_key_file: file not found/);
    expect(problems([jwt({ algorithms: ['ES256'], public_key_file: 'garbage.pem' })], {}, dir).join()).toMatch(/public_key_file: not a PEM public key/);
    expect(problems([jwt({ algorithms: ['RS256'], public_key_file: 'ec.pem' })], {}, dir).join()).toMatch(/RS256 does not fit the ec/);
    writeFileSync(join(dir, 'rsa1024.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }));
    expect(problems([jwt({ algorithms: ['RS256'], public_key_file: 'rsa1024.pem' })], {}, dir).join()).toMatch(/RS256 needs an RSA key of at least 2048 bits, this one has 1024 in public_key_file/);
  });

  it('introspection client credentials come from env only', () => {
    const p = problems([{ type: 'introspection', name: 'i', url: 'https://idp.test/i', client_id_env: 'CID', client_secret_env: 'CSEC' }], { CID: 'id' });
    expect(p.join()).toMatch(/client_secret_env: environment variable CSEC is not set/);
  });

  it('static tokens need exactly one of token_env and token_sha256', () => {
    expect(problems([{ type: 'static', name: 's', tokens: [{ name: 'a' }] }]).join()).toMatch(/exactly one of token_env, token_sha256/);
  });
});
