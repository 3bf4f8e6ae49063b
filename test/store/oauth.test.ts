/**
 * The authorization server's storage — the repository and oidc-provider's
 * adapter over it — and browser sessions: the same suite on every backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RevokedGrants } from '../../src/auth/oauth-access-tokens.js';
import { LocalBus } from '../../src/lib/bus.js';
import { sha256B64u } from '../../src/lib/crypto.js';
import { adapterFactory, hashClientSecret } from '../../src/oauth/adapter.js';
import { loadEngine, type EngineModule } from '../../src/oauth/engine.js';
import { GrantRevoker } from '../../src/oauth/revocation.js';
import { openStore, type Store } from '../../src/store/index.js';
import { BACKENDS } from '../helpers/db.js';
import { useTestStore } from '../helpers/store.js';

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const payload = (o: Record<string, unknown>) => JSON.stringify(o);

describe.each(BACKENDS)('authorization server store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  beforeAll(() => {
    s = t.store;
  });

  it('upsert replaces the payload and keeps a grant’s creation time, last use and client name', async () => {
    await s.oauth.upsert('Grant', 'g1', payload({ v: 1 }), { accountId: 'u1', clientId: 'c1', resource: 'r1', expiresAt: inSeconds(60) });
    await s.oauth.nameGrantClient('g1', 'Client One');
    await s.oauth.touchGrant('g1');
    const before = (await s.oauth.find('Grant', 'g1'))!;
    await s.oauth.upsert('Grant', 'g1', payload({ v: 2 }), { accountId: 'u1', clientId: 'c1', resource: 'r1', expiresAt: inSeconds(120) });
    const after = (await s.oauth.find('Grant', 'g1'))!;
    expect(JSON.parse(after.payload)).toEqual({ v: 2 });
    expect(after).toMatchObject({ createdAt: before.createdAt, clientName: 'Client One', lastUsedAt: before.lastUsedAt, resource: 'r1' });
    expect(after.lastUsedAt).not.toBeNull();
    expect(after.expiresAt! > before.expiresAt!).toBe(true);
  });

  it('consume is atomic: of concurrent calls on two store instances exactly one wins', async () => {
    await s.oauth.upsert('AuthorizationCode', 'race', payload({}), { grantId: 'gx', expiresAt: inSeconds(60) });
    const other = await openStore(t.db.url, { poolSize: 4 });
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).oauth.consume('AuthorizationCode', 'race')));
      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await other.close();
    }
    expect((await s.oauth.find('AuthorizationCode', 'race'))?.consumedAt).toBeTruthy();
  });

  it('destroyGrant deletes the grant and everything issued under it, nothing else', async () => {
    await s.oauth.upsert('Grant', 'g2', payload({}), { accountId: 'u2', clientId: 'c2', expiresAt: inSeconds(60) });
    await s.oauth.upsert('RefreshToken', 'rt-a', payload({}), { grantId: 'g2', expiresAt: inSeconds(60) });
    await s.oauth.upsert('AuthorizationCode', 'code-a', payload({}), { grantId: 'g2', expiresAt: inSeconds(60) });
    await s.oauth.upsert('RefreshToken', 'rt-b', payload({}), { grantId: 'other', expiresAt: inSeconds(60) });
    expect(await s.oauth.destroyGrant('g2')).toBe(true);
    expect(await s.oauth.find('Grant', 'g2')).toBeUndefined();
    expect(await s.oauth.find('RefreshToken', 'rt-a')).toBeUndefined();
    expect(await s.oauth.find('AuthorizationCode', 'code-a')).toBeUndefined();
    expect(await s.oauth.find('RefreshToken', 'rt-b')).toBeDefined();
    expect(await s.oauth.destroyGrant('g2')).toBe(false);
  });

  it('grantFor finds the newest unexpired grant of (user, client, resource) only', async () => {
    await s.oauth.upsert('Grant', 'old', payload({}), { accountId: 'u3', clientId: 'c3', resource: 'https://gw/mcp/a', expiresAt: inSeconds(-5) });
    expect(await s.oauth.grantFor('u3', 'c3', 'https://gw/mcp/a')).toBeUndefined();
    await s.oauth.upsert('Grant', 'live', payload({}), { accountId: 'u3', clientId: 'c3', resource: 'https://gw/mcp/a', expiresAt: inSeconds(60) });
    expect(await s.oauth.grantFor('u3', 'c3', 'https://gw/mcp/a')).toBe('live');
    expect(await s.oauth.grantFor('u3', 'c3', 'https://gw/mcp/b')).toBeUndefined();
    expect(await s.oauth.grantFor('u3', 'other', 'https://gw/mcp/a')).toBeUndefined();
    expect((await s.oauth.grantsOfAccount('u3')).map((g) => g.key)).toEqual(['live']);
    expect(await s.oauth.grantIdsOfAccount('u3')).toEqual(expect.arrayContaining(['old', 'live']));
  });

  it('revoked grants are remembered once and listed by time; purge drops the old ones and expired artifacts', async () => {
    const t0 = new Date(Date.now() - 1000).toISOString();
    await s.oauth.recordRevokedGrant('rg1', 'code_reuse');
    await s.oauth.recordRevokedGrant('rg1', 'refresh_token_reuse');
    expect(await s.oauth.revokedGrantsSince(t0)).toContain('rg1');
    await s.oauth.upsert('AuthorizationCode', 'stale', payload({}), { expiresAt: inSeconds(-1) });
    await s.oauth.purge(new Date(Date.now() + 1000).toISOString());
    expect(await s.oauth.revokedGrantsSince(t0)).not.toContain('rg1');
    expect(await s.oauth.find('AuthorizationCode', 'stale')).toBeUndefined();
  });

  it('clientsWithGrants counts unexpired grants per client', async () => {
    await s.oauth.upsert('Grant', 'cw1', payload({}), { accountId: 'u4', clientId: 'https://app.example/meta.json', expiresAt: inSeconds(60) });
    await s.oauth.nameGrantClient('cw1', 'Meta App');
    await s.oauth.upsert('Grant', 'cw2', payload({}), { accountId: 'u5', clientId: 'https://app.example/meta.json', expiresAt: inSeconds(60) });
    const c = (await s.oauth.clientsWithGrants()).find((x) => x.clientId === 'https://app.example/meta.json');
    expect(c).toMatchObject({ grants: 2, clientName: 'Meta App' });
  });

  it('browser sessions: create, get, touch, end all of a user but one, purge', async () => {
    const exp = inSeconds(3600);
    await s.browserSessions.create({ id: 'bs1', userId: 'u6', expiresAt: exp });
    await s.browserSessions.create({ id: 'bs2', userId: 'u6', expiresAt: exp });
    await s.browserSessions.create({ id: 'bs3', userId: 'u7', expiresAt: inSeconds(-1) });
    expect(await s.browserSessions.get('bs1')).toMatchObject({ userId: 'u6', expiresAt: exp });
    const later = inSeconds(30);
    await s.browserSessions.touch('bs1', later);
    expect((await s.browserSessions.get('bs1'))?.lastSeenAt).toBe(later);
    expect(await s.browserSessions.deleteForUser('u6', 'bs1')).toBe(1);
    expect(await s.browserSessions.get('bs2')).toBeUndefined();
    expect(await s.browserSessions.get('bs1')).toBeDefined();
    await s.browserSessions.purge(new Date(Date.now() - 3_600_000).toISOString());
    expect(await s.browserSessions.get('bs3')).toBeUndefined();
    expect(await s.browserSessions.get('bs1')).toBeDefined();
  });
});

describe.each(BACKENDS)('oidc-provider adapter on %s', (backend) => {
  const t = useTestStore(backend);
  let adapter: ReturnType<typeof adapterFactory>;
  let bus: LocalBus;
  let revoked: RevokedGrants;
  let engine: EngineModule;
  beforeAll(async () => {
    bus = new LocalBus();
    revoked = new RevokedGrants(t.store, bus, 60_000);
    engine = await loadEngine();
    adapter = adapterFactory({ engine, store: t.store, revoker: new GrantRevoker(t.store, bus, revoked), documents: null });
  });

  it('a token id is stored only as its digest and is not kept in the payload', async () => {
    const rt = adapter('RefreshToken');
    await rt.upsert('the-secret-token-value', { jti: 'the-secret-token-value', grantId: 'g', accountId: 'u', clientId: 'c', exp: 1 } as never, 60);
    const row = await t.store.oauth.find('RefreshToken', sha256B64u('the-secret-token-value'));
    expect(row?.payload).not.toContain('the-secret-token-value');
    expect(await t.store.oauth.find('RefreshToken', 'the-secret-token-value')).toBeUndefined();
    expect(await rt.find('the-secret-token-value')).toMatchObject({ jti: 'the-secret-token-value', grantId: 'g', clientId: 'c' });
  });

  it('a registered client’s secret is stored as its digest', async () => {
    await adapter('Client').upsert('pco_x', { client_id: 'pco_x', client_secret: 'pcos_plain-secret', redirect_uris: ['https://a.example/cb'] } as never);
    const row = await t.store.oauth.find('Client', 'pco_x');
    expect(row?.payload).not.toContain('pcos_plain-secret');
    expect(JSON.parse(row!.payload).client_secret).toBe(hashClientSecret('pcos_plain-secret'));
  });

  it('a second consume fails and revokes the grant on every replica (bus)', async () => {
    const seen: string[] = [];
    bus.subscribe((e) => e.kind === 'oauth_grant' && seen.push(e.id));
    const code = adapter('AuthorizationCode');
    await adapter('Grant').upsert('grant-r', { accountId: 'u', clientId: 'c' } as never, 60);
    await code.upsert('code-r', { grantId: 'grant-r', clientId: 'c' } as never, 60);
    await code.consume('code-r');
    expect((await code.find('code-r'))?.consumed).toBeGreaterThan(0);
    await expect(code.consume('code-r')).rejects.toBeInstanceOf(engine.errors.InvalidGrant);
    expect(seen).toEqual(['grant-r']);
    expect(revoked.has('grant-r')).toBe(true);
    expect(await adapter('Grant').find('grant-r')).toBeUndefined();
    expect(await t.store.oauth.revokedGrantsSince(new Date(Date.now() - 60_000).toISOString())).toContain('grant-r');
  });

  it('revokeByGrantId removes one model’s artifacts of a grant', async () => {
    const rt = adapter('RefreshToken');
    await rt.upsert('rt-1', { grantId: 'gg' } as never, 60);
    await adapter('AuthorizationCode').upsert('c-1', { grantId: 'gg' } as never, 60);
    await rt.revokeByGrantId('gg');
    expect(await rt.find('rt-1')).toBeUndefined();
    expect(await adapter('AuthorizationCode').find('c-1')).toBeDefined();
  });

  it('a restarted replica loads the revoked grants from the store', async () => {
    const fresh = new RevokedGrants(t.store, new LocalBus(), 60_000);
    expect(fresh.has('grant-r')).toBe(false);
    await fresh.load();
    expect(fresh.has('grant-r')).toBe(true);
    fresh.close();
  });
});
