/** The user repository, the same suite on every backend. */
import { beforeAll, describe, expect, it } from 'vitest';
import { uuid } from '../../src/lib/crypto.js';
import { UniqueViolation, type Store } from '../../src/store/index.js';
import { BACKENDS } from '../helpers/db.js';
import { openTestStore, useTestStore } from '../helpers/store.js';

describe.each(BACKENDS)('users store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  beforeAll(async () => {
    s = t.store;
  });

  it('creates a user with defaults and reads it back by id', async () => {
    const u = await s.users.create({ email: 'Alice@Example.com', username: 'alice', name: 'Alice', passwordHash: 'h1', groups: ['eng'] });
    expect(u).toMatchObject({ email: 'Alice@Example.com', username: 'alice', name: 'Alice', role: 'user', groups: ['eng'], disabled: false });
    expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await s.users.byId(u.id)).toEqual(u);
    expect(await s.users.byId(uuid())).toBeUndefined();
  });

  it('email is unique case-insensitively', async () => {
    await expect(s.users.create({ email: 'ALICE@example.COM', passwordHash: 'h' })).rejects.toSatisfy(
      (e) => e instanceof UniqueViolation && e.field === 'email',
    );
  });

  it('username is unique (case-insensitively)', async () => {
    await expect(s.users.create({ email: 'other@example.com', username: 'ALICE', passwordHash: 'h' })).rejects.toSatisfy(
      (e) => e instanceof UniqueViolation && e.field === 'username',
    );
    // users without a username do not collide with each other
    await s.users.create({ email: 'nouser1@example.com', passwordHash: 'h' });
    await s.users.create({ email: 'nouser2@example.com', passwordHash: 'h' });
  });

  it('byLogin finds a user by email or by username, ignoring case', async () => {
    const byEmail = await s.users.byLogin('alice@EXAMPLE.com');
    const byName = await s.users.byLogin('Alice');
    expect(byEmail?.username).toBe('alice');
    expect(byName?.id).toBe(byEmail?.id);
    expect(await s.users.byLogin('nobody@example.com')).toBeUndefined();
  });

  it('lists and counts', async () => {
    const all = await s.users.list();
    // oldest first (users created within the same millisecond are ordered by id)
    expect(all[0].email).toBe('Alice@Example.com');
    expect(all.map((u) => u.email).sort()).toEqual(['Alice@Example.com', 'nouser1@example.com', 'nouser2@example.com']);
    expect(await s.users.count()).toBe(3);
    expect(await s.users.list({ limit: 1, offset: 1 })).toEqual([all[1]]);
  });

  it('update changes role, groups, disabled, password and name', async () => {
    const u = (await s.users.byLogin('nouser1@example.com'))!;
    const r = await s.users.update(u.id, { role: 'viewer', groups: ['a', 'b'], disabled: true, passwordHash: 'h2', name: 'N' });
    expect(r).toMatchObject({ role: 'viewer', groups: ['a', 'b'], disabled: true, passwordHash: 'h2', name: 'N' });
    expect(await s.users.byId(u.id)).toMatchObject({ role: 'viewer', groups: ['a', 'b'], disabled: true, passwordHash: 'h2', name: 'N' });
    expect(await s.users.update(uuid(), { role: 'admin' })).toBe('not_found');
  });

  it('the last enabled admin cannot be demoted, disabled or deleted', async () => {
    const admin = await s.users.create({ email: 'root@example.com', passwordHash: 'h', role: 'admin' });
    expect(await s.users.update(admin.id, { role: 'user' })).toBe('last_admin');
    expect(await s.users.update(admin.id, { disabled: true })).toBe('last_admin');
    expect(await s.users.delete(admin.id)).toBe('last_admin');
    // non-admin changes to the last admin are fine
    expect(await s.users.update(admin.id, { groups: ['ops'] })).toMatchObject({ role: 'admin', groups: ['ops'] });

    // a disabled admin does not count as the other admin
    const disabledAdmin = await s.users.create({ email: 'sleepy@example.com', passwordHash: 'h', role: 'admin' });
    expect(await s.users.update(disabledAdmin.id, { disabled: true })).toMatchObject({ disabled: true });
    expect(await s.users.update(admin.id, { role: 'operator' })).toBe('last_admin');

    // with a second enabled admin, the first can go
    const second = await s.users.create({ email: 'root2@example.com', passwordHash: 'h', role: 'admin' });
    expect(await s.users.update(admin.id, { role: 'operator' })).toMatchObject({ role: 'operator' });
    expect(await s.users.delete(second.id)).toBe('last_admin');
  });

  it('concurrent demotions of the last two admins leave one admin', async () => {
    await s.users.create({ email: 'race-a@example.com', passwordHash: 'h', role: 'admin' });
    const current = (await s.users.list()).filter((u) => u.role === 'admin' && !u.disabled);
    expect(current.length).toBe(2);
    const results = await Promise.all(current.map((u) => s.users.update(u.id, { role: 'user' })));
    expect(results.filter((r) => r === 'last_admin')).toHaveLength(1);
    expect((await s.users.list()).filter((u) => u.role === 'admin' && !u.disabled)).toHaveLength(1);
  });

  it('delete removes the user and revokes its API and refresh tokens', async () => {
    const u = await s.users.create({ email: 'leaver@example.com', passwordHash: 'h' });
    await s.apiTokens.insert({ id: uuid(), ownerId: u.id, ownerType: 'user', name: 't', prefix: 'pcl_abcdef', tokenHash: `h-${uuid()}`, scopes: null, servers: null, expiresAt: null, rateLimitPerHour: null });
    const rtHash = `r-${uuid()}`;
    await s.refreshTokens.insert({ id: uuid(), familyId: uuid(), userId: u.id, tokenHash: rtHash, expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect(await s.apiTokens.list(u.id)).toHaveLength(1);

    expect(await s.users.delete(u.id)).toBe('ok');
    expect(await s.users.byId(u.id)).toBeUndefined();
    expect(await s.users.byLogin('leaver@example.com')).toBeUndefined();
    expect(await s.apiTokens.list(u.id)).toEqual([]);
    expect((await s.refreshTokens.byHash(rtHash))?.revokedAt).toBeTruthy();
    expect(await s.users.delete(u.id)).toBe('not_found');
    // the email is free again
    await s.users.create({ email: 'leaver@example.com', passwordHash: 'h' });
  });

  it('firstBecomesAdmin: only the very first claimant becomes admin, even concurrently', async () => {
    const fresh = await openTestStore(backend);
    try {
      const made = await Promise.all(
        Array.from({ length: 8 }, (_, i) => fresh.store.users.create({ email: `u${i}@example.com`, passwordHash: 'h' }, { firstBecomesAdmin: true })),
      );
      expect(made.filter((u) => u.role === 'admin')).toHaveLength(1);
      // the seat is taken for good: later users are never admin
      const later = await fresh.store.users.create({ email: 'late@example.com', passwordHash: 'h' }, { firstBecomesAdmin: true });
      expect(later.role).toBe('user');
    } finally {
      await fresh.close();
    }
  });
});
