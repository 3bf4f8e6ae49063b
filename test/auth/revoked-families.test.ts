/**
 * Revoked refresh families do not accumulate: the in-memory set forgets a
 * family one access-token lifetime after its revocation, and the store
 * forgets it once every token of it has expired (SessionRetention), on
 * every backend. A revoked family stays refused for as long as any of its
 * tokens could be presented.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionRetention } from '../../src/auth/session-retention.js';
import { REVOKED_FAMILY_MARGIN_MS } from '../../src/auth/identity-cache.js';
import { CLOCK_TOLERANCE_S } from '../../src/auth/signing.js';
import { sha256Hex } from '../../src/lib/crypto.js';
import { createLogger } from '../../src/lib/logger.js';
import { setClock } from '../../src/lib/time.js';
import { bearer, register, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS } from '../helpers/db.js';

const ACCESS_TTL = 60_000;
const REFRESH_TTL = 3_600_000;
const sidOf = (jwt: string): string => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).sid;

describe.each(BACKENDS)('revoked refresh families are pruned once expired, on %s', (backend) => {
  let t: TestApp;
  let retention: SessionRetention;
  let n = 0;
  beforeAll(async () => {
    t = await startTestApp({ backend, config: { auth: { access_token_ttl: '1m', refresh_token_ttl: '1h' } } });
    await register(t, 'admin@example.com');
    retention = new SessionRetention(t.store, t.app.services.cache, ACCESS_TTL, createLogger('silent'));
  });
  afterAll(async () => {
    await retention?.close();
    await t?.close();
  });
  afterEach(() => setClock(null));

  /** Log in and out: one revoked family. Returns the session's tokens and family. */
  async function loggedOut() {
    const s = await register(t, `u${++n}-${backend}@example.com`);
    const out = await t.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(s.token) });
    expect(out.statusCode).toBe(204);
    return { access: s.token, refresh: s.refresh_token, family: sidOf(s.token) };
  }

  const familyRow = (family: string) => t.store.db.kysely.selectFrom('revoked_refresh_families').selectAll().where('family_id', '=', family).executeTakeFirst();

  it('in memory: refused while its access tokens may live, forgotten one lifetime later (the set shrinks)', async () => {
    const cache = t.app.services.cache;
    cache.pruneRevokedFamilies(Date.now() + 10 * REFRESH_TTL); // start from an empty set
    const t0 = Date.now();
    setClock(() => t0);
    const a = await loggedOut();
    const b = await loggedOut();
    expect(cache.isFamilyRevoked(a.family) && cache.isFamilyRevoked(b.family)).toBe(true);
    expect(cache.revokedFamilyCount).toBe(2);
    const r = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(a.access) });
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');

    // just inside the window: kept
    expect(cache.pruneRevokedFamilies(t0 + ACCESS_TTL + REVOKED_FAMILY_MARGIN_MS - 1)).toBe(0);
    expect(cache.revokedFamilyCount).toBe(2);
    // past it, a new revocation drops both (pruned at revocation time), keeping only itself
    setClock(() => t0 + ACCESS_TTL + REVOKED_FAMILY_MARGIN_MS + 1);
    const c = await loggedOut();
    expect(cache.revokedFamilyCount).toBe(1);
    expect(cache.isFamilyRevoked(c.family)).toBe(true);
    expect(cache.isFamilyRevoked(a.family)).toBe(false);
    // a's access token is long expired by now: forgetting the family let nothing back in
    const late = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(a.access) });
    expect(late.statusCode).toBe(401);
    expect(late.json().code).toBe('token_expired');
  });

  it('in the store: kept until its last refresh token and access token have expired, then pruned by the periodic job', async () => {
    const t0 = Date.now();
    setClock(() => t0);
    const s = await loggedOut();
    const row = await familyRow(s.family);
    expect(row?.expires_at).toBe(new Date(t0 + REFRESH_TTL).toISOString());

    // the refresh token of a revoked family is refused while the family is kept
    const refused = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh } });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().code).toBe('invalid_token');

    // an hour later the refresh token has expired, but an access token issued with it might still be live
    // (the expired refresh tokens themselves go now; the family's record stays)
    setClock(() => t0 + REFRESH_TTL + 1);
    const first = await retention.pruneNow();
    expect(first.families).toBe(0);
    expect(first.tokens).toBeGreaterThanOrEqual(1);
    expect(await t.store.refreshTokens.byHash(sha256Hex(s.refresh))).toBeUndefined();
    expect(await t.store.refreshTokens.isFamilyRevoked(s.family)).toBe(true);

    // one access-token lifetime (and the clock tolerance) after that: gone
    setClock(() => t0 + REFRESH_TTL + ACCESS_TTL + CLOCK_TOLERANCE_S * 1000 + 1);
    expect((await retention.pruneNow()).families).toBeGreaterThanOrEqual(1);
    expect(await familyRow(s.family)).toBeUndefined();
    expect(await t.store.refreshTokens.isFamilyRevoked(s.family)).toBe(false);
    const gone = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh } });
    expect(gone.statusCode).toBe(401);
    expect(gone.json().code).toBe('invalid_token');
    // and a restarted replica would not load it
    expect(await t.store.refreshTokens.familiesRevokedSince(new Date(0).toISOString())).not.toContain(s.family);
  });

  it('a refresh that races the revocation of its family is refused, and the token it issued is revoked too', async () => {
    const s = await register(t, `race-${backend}@example.com`);
    const family = sidOf(s.token);
    // the revocation has recorded the family but not yet marked its tokens
    await t.store.db.kysely.insertInto('revoked_refresh_families').values({ family_id: family, revoked_at: new Date().toISOString(), expires_at: new Date(Date.now() + REFRESH_TTL).toISOString() }).execute();
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
    const live = await t.store.db.kysely.selectFrom('refresh_tokens').select('id').where('family_id', '=', family).where('revoked_at', 'is', null).execute();
    expect(live).toEqual([]);
    expect(t.app.services.cache.isFamilyRevoked(family)).toBe(true);
  });
});
