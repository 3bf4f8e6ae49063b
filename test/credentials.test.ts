import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/index.js';
import { LocalBus } from '../src/lib/bus.js';
import { parseEncryptionKey, SecretBox, SecretBoxError } from '../src/lib/secretbox.js';
import { checkCredentialHeaders, CredentialService } from '../src/proxy/user-credentials.js';
import { buildApp, type App } from '../src/app.js';
import { createLogger } from '../src/lib/logger.js';
import { openStore, type Store } from '../src/store/index.js';
import { createDatabase, createPgDatabase, REDIS_URL, type Backend, type TestDb } from './helpers/db.js';
import { testConfig } from './helpers/app.js';

const silent = { error() {}, warn() {} };
const hexKey = () => randomBytes(32).toString('hex');

describe('secretbox (AES-256-GCM)', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips and uses a fresh IV per record', () => {
    const a = box.seal('{"Authorization":"Bearer s3cret"}', 'ctx');
    const b = box.seal('{"Authorization":"Bearer s3cret"}', 'ctx');
    expect(a).not.toBe(b);
    expect(a.startsWith(`v1.${box.keyId}.`)).toBe(true);
    expect(a).not.toContain('s3cret');
    expect(box.open(a, 'ctx')).toBe('{"Authorization":"Bearer s3cret"}');
    expect(box.open(b, 'ctx')).toBe('{"Authorization":"Bearer s3cret"}');
  });

  it('a record opened with other associated data fails', () => {
    const sealed = box.seal('x', 'user_credentials\0alice\0demo');
    expect(() => box.open(sealed, 'user_credentials\0bob\0demo')).toThrow(SecretBoxError);
  });

  it('a record opened with another key fails, naming the key ids only', () => {
    const sealed = box.seal('x', 'ctx');
    const other = new SecretBox(randomBytes(32));
    expect(() => other.open(sealed, 'ctx')).toThrow(/key id/);
    // Same key id forged onto a record sealed by another key: the tag check still fails.
    const forged = other.seal('x', 'ctx').replace(other.keyId, box.keyId);
    expect(() => box.open(forged, 'ctx')).toThrow(SecretBoxError);
  });

  it('a tampered ciphertext or tag fails', () => {
    const sealed = box.seal('hello world', 'ctx');
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[3], 'base64url');
    ct[0] ^= 1;
    expect(() => box.open([...parts.slice(0, 3), ct.toString('base64url'), parts[4]].join('.'), 'ctx')).toThrow(SecretBoxError);
    expect(() => box.open(sealed.slice(0, -2) + 'AA', 'ctx')).toThrow(SecretBoxError);
    expect(() => box.open('v2.' + sealed.slice(3), 'ctx')).toThrow(SecretBoxError);
  });

  it('parses 32-byte keys as hex or base64 and refuses other lengths', () => {
    const raw = randomBytes(32);
    expect(parseEncryptionKey(raw.toString('hex'))?.equals(raw)).toBe(true);
    expect(parseEncryptionKey(raw.toString('base64'))?.equals(raw)).toBe(true);
    expect(parseEncryptionKey(raw.toString('base64url'))?.equals(raw)).toBe(true);
    expect(parseEncryptionKey(randomBytes(16).toString('hex'))).toBeUndefined();
    expect(parseEncryptionKey(randomBytes(31).toString('base64'))).toBeUndefined();
    expect(parseEncryptionKey('correct horse battery staple correct horse b')).toBeUndefined();
  });
});

describe('credentials.encryption_key in the config', () => {
  it('a short key is refused with a message naming the setting', () => {
    expect(() => testConfig({ credentials: { encryption_key: 'abcd' } })).toThrow(ConfigError);
    expect(() => testConfig({ credentials: { encryption_key: randomBytes(16).toString('base64') } })).toThrow(/^\s*credentials\.encryption_key: must be 32 bytes/m);
  });

  it('PORTCULLIS_ENCRYPTION_KEY overrides the file and is validated too', () => {
    const k = hexKey();
    expect(testConfig({}, { PORTCULLIS_ENCRYPTION_KEY: k }).credentials.encryption_key).toBe(k);
    expect(() => testConfig({}, { PORTCULLIS_ENCRYPTION_KEY: 'short' })).toThrow(/credentials\.encryption_key/);
  });
});

describe('header rules', () => {
  it('accepts ordinary credential headers, including Authorization', () => {
    expect(checkCredentialHeaders({ Authorization: 'Bearer ghp_x', 'X-Api-Key': 'k', Cookie: 'a=b' }, [])).toEqual([]);
  });

  it('refuses hop-by-hop, framing, MCP and forwarding headers', () => {
    for (const h of ['Connection', 'transfer-encoding', 'Host', 'Content-Length', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'X-Forwarded-For', 'Proxy-Authorization', 'X-Portcullis-User'])
      expect(checkCredentialHeaders({ [h]: 'v' }, []), h).toEqual([{ field: `headers.${h}`, message: expect.stringMatching(/managed by the gateway/) }]);
  });

  it('refuses headers the server definition sets, invalid names, injection and duplicates', () => {
    expect(checkCredentialHeaders({ 'x-upstream-key': 'v' }, ['X-Upstream-Key'])[0].message).toMatch(/set by the server definition/);
    expect(checkCredentialHeaders({ 'Bad Name': 'v' }, [])[0].field).toBe('headers.Bad Name');
    expect(checkCredentialHeaders({ 'X-A': 'v\r\nX-Injected: 1' }, [])[0].message).toMatch(/visible ASCII/);
    expect(checkCredentialHeaders({ 'X-A': '' }, []).length).toBe(1);
    expect(checkCredentialHeaders({ 'X-A': 'a', 'x-a': 'b' }, [])[0].message).toMatch(/duplicate/);
    expect(checkCredentialHeaders({}, [])[0].field).toBe('headers');
  });
});

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`credential service (${backend})`, () => {
    let db: TestDb;
    let store: Store;
    const key = hexKey();
    const config = () => testConfig({ credentials: { encryption_key: key } });

    beforeAll(async () => {
      db = await createDatabase(backend);
      store = await openStore(db.url);
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    it('stores ciphertext only, and the plaintext never reaches the database', async () => {
      const svc = await CredentialService.create(config(), store, new LocalBus(), silent);
      await svc.put('u-1', 'demo', { Authorization: 'Bearer plaintext-secret-123' });
      const row = await store.db.kysely.selectFrom('user_credentials').selectAll().where('principal_id', '=', 'u-1').executeTakeFirstOrThrow();
      expect(row.ciphertext).not.toContain('plaintext-secret-123');
      expect(row.ciphertext).not.toContain(Buffer.from('plaintext-secret-123').toString('base64'));
      expect(row.ciphertext).toMatch(/^v1\.[0-9a-f]{16}\./);
      expect(await svc.headersFor('u-1', 'demo')).toEqual({ Authorization: 'Bearer plaintext-secret-123' });
      expect(await svc.names('u-1', 'demo')).toMatchObject({ names: ['Authorization'] });
      svc.close();
    });

    it('a record moved to another principal does not decrypt (AAD binds principal and server)', async () => {
      const svc = await CredentialService.create(config(), store, new LocalBus(), silent);
      await svc.put('u-swap-a', 'demo', { Authorization: 'Bearer a' });
      const row = await store.credentials.get('u-swap-a', 'demo');
      await store.credentials.put('u-swap-b', 'demo', row!.ciphertext);
      await expect(svc.headersFor('u-swap-b', 'demo')).rejects.toMatchObject({ code: 'internal_error' });
      await store.credentials.put('u-swap-a', 'other', row!.ciphertext);
      await expect(svc.headersFor('u-swap-a', 'other')).rejects.toMatchObject({ code: 'internal_error' });
      await store.credentials.delete('u-swap-b', 'demo');
      await store.credentials.delete('u-swap-a', 'other');
      await svc.delete('u-swap-a', 'demo');
      svc.close();
    });

    it('the warm path is served from memory; a bus event drops the entry', async () => {
      const bus = new LocalBus();
      const svc = await CredentialService.create(config(), store, bus, silent);
      await svc.put('u-2', 'demo', { 'X-Key': 'one' });
      // The synchronous read knows nothing until headersFor has loaded the entry ("none" included).
      expect(svc.cachedHeadersFor('u-2', 'demo')).toBeUndefined();
      expect(svc.cachedHeadersFor('u-3', 'demo')).toBeUndefined();
      expect(await svc.headersFor('u-2', 'demo')).toEqual({ 'X-Key': 'one' });
      expect(await svc.headersFor('u-3', 'demo')).toBeUndefined();
      expect(svc.cachedHeadersFor('u-2', 'demo')).toEqual({ 'X-Key': 'one' });
      expect(svc.cachedHeadersFor('u-3', 'demo')).toBeNull();
      // Change the rows behind the cache's back: a warm cache does not see it (no DB read) ...
      const other = await CredentialService.create(config(), store, new LocalBus(), silent);
      await other.put('u-2', 'demo', { 'X-Key': 'two' });
      await other.put('u-3', 'demo', { 'X-Key': 'three' });
      expect(await svc.headersFor('u-2', 'demo')).toEqual({ 'X-Key': 'one' });
      expect(await svc.headersFor('u-3', 'demo')).toBeUndefined();
      // A principal's entries are per server: 'other' is cached ("none") alongside 'demo'.
      expect(await svc.headersFor('u-2', 'other')).toBeUndefined();
      expect(svc.cachedHeadersFor('u-2', 'other')).toBeNull();
      // ... until the invalidation arrives (from another replica, via the bus): it drops that (principal, server) only.
      bus.publish({ kind: 'credentials', principal: 'u-2', server: 'demo' });
      expect(svc.cachedHeadersFor('u-2', 'demo')).toBeUndefined();
      expect(svc.cachedHeadersFor('u-2', 'other')).toBeNull();
      expect(svc.cachedHeadersFor('u-3', 'demo')).toBeNull();
      expect(await svc.headersFor('u-2', 'demo')).toEqual({ 'X-Key': 'two' });
      expect(await svc.headersFor('u-3', 'demo')).toBeUndefined();
      bus.publish({ kind: 'flush' });
      expect(await svc.headersFor('u-3', 'demo')).toEqual({ 'X-Key': 'three' });
      // Changes made through the service invalidate its own cache at once.
      await svc.delete('u-2', 'demo');
      expect(await svc.headersFor('u-2', 'demo')).toBeUndefined();
      await svc.delete('u-3', 'demo');
      svc.close();
      other.close();
    });

    it('refuses to start when credentials are stored and no key is configured', async () => {
      expect(await store.credentials.count()).toBeGreaterThan(0);
      await expect(CredentialService.create(testConfig({}), store, new LocalBus(), silent)).rejects.toThrow(
        /credentials\.encryption_key: \d+ encrypted per-user upstream credential\(s\) are stored but no encryption key is configured/,
      );
    });

    it('refuses to start when stored credentials were sealed with another key', async () => {
      await expect(CredentialService.create(testConfig({ credentials: { encryption_key: hexKey() } }), store, new LocalBus(), silent)).rejects.toThrow(
        /were encrypted with a different key/,
      );
    });

    it('without a key, storing is refused with encryption_key_missing', async () => {
      const empty = await createDatabase(backend);
      const s2 = await openStore(empty.url);
      try {
        const svc = await CredentialService.create(testConfig({}), s2, new LocalBus(), silent);
        expect(svc.enabled).toBe(false);
        await expect(svc.put('u', 'demo', { 'X-Key': 'v' })).rejects.toMatchObject({ code: 'encryption_key_missing', status: 409 });
        expect(await svc.headersFor('u', 'demo')).toBeUndefined();
        svc.close();
      } finally {
        await s2.close();
        await empty.drop();
      }
    });
  });
}

describe('the gateway with stored credentials', () => {
  it('buildApp refuses to start without the key, and starts with it', async () => {
    const db = await createDatabase('sqlite');
    const store = await openStore(db.url);
    const logger = createLogger('silent');
    try {
      const key = hexKey();
      const svc = await CredentialService.create(testConfig({ credentials: { encryption_key: key } }), store, new LocalBus(), silent);
      await svc.put('someone', 'demo', { 'X-Key': 'v' });
      svc.close();
      await expect(buildApp({ config: testConfig({ storage: { url: db.url } }), store, logger })).rejects.toThrow(
        /credentials\.encryption_key: 1 encrypted per-user upstream credential\(s\) are stored but no encryption key is configured/,
      );
      const app = await buildApp({ config: testConfig({ storage: { url: db.url } }, { PORTCULLIS_ENCRYPTION_KEY: key }), store, logger });
      expect(await app.services.userCredentials.headersFor('someone', 'demo')).toEqual({ 'X-Key': 'v' });
      await app.close();
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it('a change on one replica reaches the other replica\'s cache through Redis within 1 s', async () => {
    const db = await createPgDatabase();
    const config = testConfig({
      storage: { url: db.url },
      redis: { url: REDIS_URL, key_prefix: `pcl-cred-${randomBytes(6).toString('hex')}:` },
      credentials: { encryption_key: hexKey() },
    });
    const stores = [await openStore(db.url), await openStore(db.url)];
    const apps: App[] = [];
    try {
      for (const store of stores) apps.push(await buildApp({ config, store, logger: createLogger('silent') }));
      const [a, b] = apps.map((x) => x.services.userCredentials);
      expect(await b.headersFor('p1', 'demo')).toBeUndefined(); // cached on B: nothing stored
      await a.put('p1', 'demo', { 'X-Key': 'first' });
      const until = async (want: string | undefined) => {
        const t0 = Date.now();
        while ((await b.headersFor('p1', 'demo'))?.['X-Key'] !== want) {
          if (Date.now() - t0 > 1_000) throw new Error(`replica B still serves a stale entry after 1 s (want ${want})`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      await until('first');
      await a.put('p1', 'demo', { 'X-Key': 'second' });
      await until('second');
      await a.delete('p1', 'demo');
      await until(undefined);
    } finally {
      for (const app of apps) await app.close();
      for (const store of stores) await store.close();
      await db.drop();
    }
  });
});
