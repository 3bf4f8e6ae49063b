/** Refresh-token and API-token repositories, the same suite on every backend. */
import { beforeAll, describe, expect, it } from 'vitest';
import { newApiToken } from '../../src/auth/api-token-format.js';
import { sha256Hex, uuid } from '../../src/lib/crypto.js';
import { setClock } from '../../src/lib/time.js';
import { type Store } from '../../src/store/index.js';
import { BACKENDS } from '../helpers/db.js';
import { useTestStore } from '../helpers/store.js';

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();

describe.each(BACKENDS)('refresh tokens store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  let userId: string;
  beforeAll(async () => {
    s = t.store;
    userId = (await s.users.create({ email: 'rt@example.com', passwordHash: 'h' })).id;
  });

  it('insert and byHash', async () => {
    const id = uuid();
    const fam = uuid();
    await s.refreshTokens.insert({ id, familyId: fam, userId, tokenHash: sha256Hex('a'), expiresAt: inAMinute() });
    expect(await s.refreshTokens.byHash(sha256Hex('a'))).toMatchObject({ id, familyId: fam, userId, usedAt: null, revokedAt: null });
    expect(await s.refreshTokens.byHash(sha256Hex('b'))).toBeUndefined();
  });

  it('markUsed is atomic: of N concurrent calls exactly one wins', async () => {
    const id = uuid();
    await s.refreshTokens.insert({ id, familyId: uuid(), userId, tokenHash: sha256Hex(`race-${id}`), expiresAt: inAMinute() });
    const results = await Promise.all(Array.from({ length: 12 }, () => s.refreshTokens.markUsed(id)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await s.refreshTokens.markUsed(id)).toBe(false);
    expect((await s.refreshTokens.byHash(sha256Hex(`race-${id}`)))?.usedAt).toBeTruthy();
  });

  it('markUsed is atomic across two store instances (two replicas)', async () => {
    const { openStore } = await import('../../src/store/index.js');
    const other = await openStore(t.db.url, { poolSize: 4 });
    try {
      const id = uuid();
      await s.refreshTokens.insert({ id, familyId: uuid(), userId, tokenHash: sha256Hex(`race2-${id}`), expiresAt: inAMinute() });
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).refreshTokens.markUsed(id)));
      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('revokeFamily revokes every token of the family and no other', async () => {
    const fam = uuid();
    const other = uuid();
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex('f1'), expiresAt: inAMinute() });
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex('f2'), expiresAt: inAMinute() });
    await s.refreshTokens.insert({ id: uuid(), familyId: other, userId, tokenHash: sha256Hex('o1'), expiresAt: inAMinute() });
    const since = new Date(Date.now() - 1000).toISOString();
    await s.refreshTokens.revokeFamily(fam);
    expect((await s.refreshTokens.byHash(sha256Hex('f1')))?.revokedAt).toBeTruthy();
    expect((await s.refreshTokens.byHash(sha256Hex('f2')))?.revokedAt).toBeTruthy();
    expect((await s.refreshTokens.byHash(sha256Hex('o1')))?.revokedAt).toBeNull();
    expect(await s.refreshTokens.isFamilyRevoked(fam)).toBe(true);
    expect(await s.refreshTokens.isFamilyRevoked(other)).toBe(false);
    expect(await s.refreshTokens.familiesRevokedSince(since)).toContain(fam);
  });

  it('revokeUserFamilies keeps the given family', async () => {
    const keep = uuid();
    const drop = uuid();
    const u2 = (await s.users.create({ email: 'rt2@example.com', passwordHash: 'h' })).id;
    await s.refreshTokens.insert({ id: uuid(), familyId: keep, userId: u2, tokenHash: sha256Hex('k'), expiresAt: inAMinute() });
    await s.refreshTokens.insert({ id: uuid(), familyId: drop, userId: u2, tokenHash: sha256Hex('d'), expiresAt: inAMinute() });
    expect(await s.refreshTokens.revokeUserFamilies(u2, keep)).toEqual([drop]);
    expect(await s.refreshTokens.isFamilyRevoked(keep)).toBe(false);
    expect(await s.refreshTokens.isFamilyRevoked(drop)).toBe(true);
  });

  it('pruneExpired deletes only expired tokens', async () => {
    await s.refreshTokens.insert({ id: uuid(), familyId: uuid(), userId, tokenHash: sha256Hex('old'), expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(await s.refreshTokens.pruneExpired(new Date().toISOString())).toBe(1);
    expect(await s.refreshTokens.byHash(sha256Hex('old'))).toBeUndefined();
    expect(await s.refreshTokens.byHash(sha256Hex('a'))).toBeDefined();
  });
});

describe.each(BACKENDS)('revoked refresh families on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  let userId: string;
  const at = (ms: number) => new Date(ms).toISOString();
  const rows = async () =>
    (await t.store.db.kysely.selectFrom('revoked_refresh_families').selectAll().execute()).map((r) => ({ family: r.family_id, revokedAt: r.revoked_at, expiresAt: r.expires_at }));
  const row = async (family: string) => (await rows()).find((r) => r.family === family);
  beforeAll(async () => {
    s = t.store;
    userId = (await s.users.create({ email: 'fam@example.com', passwordHash: 'h' })).id;
  });

  it('a revoked family is stored with the expiry of its last refresh token', async () => {
    const fam = uuid();
    const soon = at(Date.now() + 60_000);
    const later = at(Date.now() + 3_600_000);
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex(`e1-${fam}`), expiresAt: soon });
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex(`e2-${fam}`), expiresAt: later });
    const before = at(Date.now() - 1);
    await s.refreshTokens.revokeFamily(fam);
    const r = await row(fam);
    expect(r?.expiresAt).toBe(later);
    expect(r!.revokedAt >= before).toBe(true);
    expect(await s.refreshTokens.isFamilyRevoked(fam)).toBe(true);
  });

  it('revoking again keeps the first revocation time; the expiry only grows', async () => {
    const fam = uuid();
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex(`g1-${fam}`), expiresAt: at(Date.now() + 60_000) });
    await s.refreshTokens.revokeFamily(fam);
    const first = (await row(fam))!;
    // a token inserted into the family after its revocation (a refresh racing it) extends the expiry
    const longer = at(Date.now() + 7_200_000);
    await s.refreshTokens.insert({ id: uuid(), familyId: fam, userId, tokenHash: sha256Hex(`g2-${fam}`), expiresAt: longer });
    await s.refreshTokens.revokeFamily(fam);
    expect(await row(fam)).toEqual({ family: fam, revokedAt: first.revokedAt, expiresAt: longer });
    expect((await s.refreshTokens.byHash(sha256Hex(`g2-${fam}`)))?.revokedAt).toBeTruthy();
  });

  it('a family with no refresh tokens left expires when it is revoked', async () => {
    const fam = uuid();
    await s.refreshTokens.revokeFamily(fam);
    const r = (await row(fam))!;
    expect(r.expiresAt).toBe(r.revokedAt);
  });

  it('revokeUserFamilies records every family it revokes', async () => {
    const u = (await s.users.create({ email: 'fam2@example.com', passwordHash: 'h' })).id;
    const fams = [uuid(), uuid(), uuid()];
    for (const f of fams) await s.refreshTokens.insert({ id: uuid(), familyId: f, userId: u, tokenHash: sha256Hex(`u-${f}`), expiresAt: at(Date.now() + 60_000) });
    expect((await s.refreshTokens.revokeUserFamilies(u, fams[0])).sort()).toEqual(fams.slice(1).sort());
    expect(await row(fams[0])).toBeUndefined();
    for (const f of fams.slice(1)) expect((await row(f))?.expiresAt).toBeDefined();
  });

  it('pruneRevokedFamilies forgets exactly the families that expired before the cutoff', async () => {
    const old = uuid();
    const live = uuid();
    const t0 = Date.now();
    await s.refreshTokens.insert({ id: uuid(), familyId: old, userId, tokenHash: sha256Hex(`p-${old}`), expiresAt: at(t0 - 3_600_000) });
    await s.refreshTokens.insert({ id: uuid(), familyId: live, userId, tokenHash: sha256Hex(`p-${live}`), expiresAt: at(t0 + 120_000) });
    const since = at(t0 - 3 * 3_600_000);
    // `old` was revoked two hours ago, while its token was still valid: it expired an hour ago
    setClock(() => t0 - 2 * 3_600_000);
    try {
      await s.refreshTokens.revokeFamily(old);
    } finally {
      setClock(null);
    }
    expect((await row(old))?.expiresAt).toBe(at(t0 - 3_600_000));
    await s.refreshTokens.revokeFamily(live);
    const before = (await rows()).length;
    // what expired before a minute ago: `old` only (the empty family above expired when it was revoked, moments ago)
    expect(await s.refreshTokens.pruneRevokedFamilies(at(Date.now() - 60_000))).toBe(1);
    expect((await rows()).length).toBe(before - 1);
    expect(await row(old)).toBeUndefined();
    expect(await s.refreshTokens.isFamilyRevoked(old)).toBe(false);
    expect(await s.refreshTokens.familiesRevokedSince(since)).not.toContain(old);
    expect(await s.refreshTokens.isFamilyRevoked(live)).toBe(true);
    expect(await s.refreshTokens.familiesRevokedSince(since)).toContain(live);
    // far in the future every family has expired: the set is empty
    await s.refreshTokens.pruneRevokedFamilies(at(Date.now() + 86_400_000));
    expect(await rows()).toEqual([]);
  });
});

describe.each(BACKENDS)('API tokens store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  let ownerId: string;
  const mk = (over: Partial<Parameters<Store['apiTokens']['insert']>[0]> = {}) => {
    const { hash, prefix } = newApiToken();
    return { id: uuid(), ownerId, ownerType: 'user' as const, name: 'ci', prefix, tokenHash: hash, scopes: null, servers: null, expiresAt: null, rateLimitPerHour: null, ...over };
  };
  beforeAll(async () => {
    s = t.store;
    ownerId = (await s.users.create({ email: 'owner@example.com', passwordHash: 'h' })).id;
  });

  it('insert and byHash / byId round-trip every field', async () => {
    const row = mk({ scopes: ['mcp:read', 'api:read'], servers: ['demo'], expiresAt: '2030-01-01T00:00:00.000Z', rateLimitPerHour: 100 });
    const rec = await s.apiTokens.insert(row);
    expect(rec).toMatchObject({ ...row, useCount: 0, lastUsedAt: null, revokedAt: null });
    expect(await s.apiTokens.byHash(row.tokenHash)).toEqual(rec);
    expect(await s.apiTokens.byId(row.id)).toEqual(rec);
    expect(await s.apiTokens.byHash(sha256Hex('unknown'))).toBeUndefined();
  });

  it('a token hash is unique', async () => {
    const a = mk();
    await s.apiTokens.insert(a);
    await expect(s.apiTokens.insert({ ...mk(), tokenHash: a.tokenHash })).rejects.toThrow();
  });

  it('update renames and narrows; list shows live tokens of one owner or all', async () => {
    const row = mk({ name: 'old' });
    await s.apiTokens.insert(row);
    expect(await s.apiTokens.update(row.id, { name: 'new', scopes: ['mcp:read'], servers: ['a'], rateLimitPerHour: 10 })).toMatchObject({
      name: 'new',
      scopes: ['mcp:read'],
      servers: ['a'],
      rateLimitPerHour: 10,
    });
    const other = (await s.users.create({ email: 'o2@example.com', passwordHash: 'h' })).id;
    await s.apiTokens.insert(mk({ ownerId: other }));
    expect((await s.apiTokens.list(ownerId)).every((x) => x.ownerId === ownerId)).toBe(true);
    expect((await s.apiTokens.list(other)).length).toBe(1);
    expect((await s.apiTokens.list()).length).toBe((await s.apiTokens.list(ownerId)).length + 1);
  });

  it('rotate replaces the hash: the old one stops matching at once', async () => {
    const row = mk();
    await s.apiTokens.insert(row);
    const next = newApiToken();
    const r = await s.apiTokens.rotate(row.id, next.hash, next.prefix);
    expect(r).toMatchObject({ id: row.id, prefix: next.prefix, tokenHash: next.hash });
    expect(await s.apiTokens.byHash(row.tokenHash)).toBeUndefined();
    expect((await s.apiTokens.byHash(next.hash))?.id).toBe(row.id);
  });

  it('revoke marks the token revoked once; revoked tokens cannot be rotated or updated and leave the list', async () => {
    const row = mk();
    await s.apiTokens.insert(row);
    expect((await s.apiTokens.revoke(row.id))?.id).toBe(row.id);
    expect(await s.apiTokens.revoke(row.id)).toBeUndefined();
    expect((await s.apiTokens.byHash(row.tokenHash))?.revokedAt).toBeTruthy();
    const next = newApiToken();
    expect(await s.apiTokens.rotate(row.id, next.hash, next.prefix)).toBeUndefined();
    expect(await s.apiTokens.byHash(next.hash)).toBeUndefined();
    await s.apiTokens.update(row.id, { name: 'zombie' });
    expect((await s.apiTokens.byId(row.id))?.name).toBe('ci');
    expect((await s.apiTokens.list(ownerId)).map((x) => x.id)).not.toContain(row.id);
  });

  it('revokeByOwner revokes every live token of the owner', async () => {
    const owner = (await s.users.create({ email: 'many@example.com', passwordHash: 'h' })).id;
    await s.apiTokens.insert(mk({ ownerId: owner }));
    await s.apiTokens.insert(mk({ ownerId: owner }));
    expect(await s.apiTokens.revokeByOwner(owner)).toHaveLength(2);
    expect(await s.apiTokens.list(owner)).toEqual([]);
  });

  it('addUsage accumulates counts, last use and per-server counters', async () => {
    const row = mk();
    await s.apiTokens.insert(row);
    await s.apiTokens.addUsage(new Map([[row.id, { count: 3, lastUsedAt: '2026-01-01T00:00:00.000Z', servers: new Map([['demo', 2], ['files', 1]]) }]]));
    await s.apiTokens.addUsage(new Map([[row.id, { count: 2, lastUsedAt: '2026-01-02T00:00:00.000Z', servers: new Map([['demo', 2]]) }]]));
    await s.apiTokens.addUsage(new Map());
    expect(await s.apiTokens.byId(row.id)).toMatchObject({ useCount: 5, lastUsedAt: '2026-01-02T00:00:00.000Z' });
    expect(await s.apiTokens.usageByServer(row.id)).toEqual({ demo: 4, files: 1 });
  });

  it('concurrent addUsage flushes lose no counts (two replicas on PostgreSQL)', async () => {
    const { openStore } = await import('../../src/store/index.js');
    // SQLite is a single-replica store: one connection per process, transactions queue on it.
    const other = backend === 'postgres' ? await openStore(t.db.url, { poolSize: 2 }) : s;
    try {
      const row = mk();
      await s.apiTokens.insert(row);
      const flush = (st: Store) => st.apiTokens.addUsage(new Map([[row.id, { count: 1, lastUsedAt: new Date().toISOString(), servers: new Map([['demo', 1]]) }]]));
      await Promise.all(Array.from({ length: 6 }, (_, i) => flush(i % 2 ? other : s)));
      expect((await s.apiTokens.byId(row.id))?.useCount).toBe(6);
      expect(await s.apiTokens.usageByServer(row.id)).toEqual({ demo: 6 });
    } finally {
      if (other !== s) await other.close();
    }
  });
});
