// The hot path answers from memory what is in memory: authentication of a
// cached credential, the request's session, the groups, the principal's
// upstream headers. These tests pin both halves of that contract: a warm read
// answers exactly as a read from the store would, and anything not (or no
// longer) known is read again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityCache } from '../src/auth/identity-cache.js';
import { type CredentialInput } from '../src/auth/authenticate.js';
import { type Principal } from '../src/auth/principal.js';
import { LocalBus } from '../src/lib/bus.js';
import { SessionManager } from '../src/proxy/sessions.js';
import { type ServerRegistry } from '../src/proxy/registry.js';
import { type UpstreamManager } from '../src/proxy/upstream-manager.js';
import { type VirtualSession } from '../src/proxy/upstreams/virtual-session.js';
import { type GroupRecord, type Store } from '../src/store/index.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { openTestStore, type TestStore } from './helpers/store.js';

const apiKeyInput = (token: string): CredentialInput => ({ authorization: [`Bearer ${token}`], apiKey: undefined, queryCredential: false });

describe('authentication of a cached credential', () => {
  let t: TestApp;
  let alice: { token: string; user: { id: string } };

  beforeAll(async () => {
    t = await startTestApp();
    await register(t, 'admin@example.com');
    alice = await register(t, 'alice@example.com');
  });
  afterAll(async () => t?.close());

  const failures = async (reason: string): Promise<number> => {
    const { body } = await t.app.services.metrics.render();
    const m = new RegExp(`portcullis_auth_failure_total\\{method="api_token",reason="${reason}"\\} (\\d+)`).exec(body);
    return m ? Number(m[1]) : 0;
  };

  it('an API token: the same principal from the store and then from memory; revocation is seen at once', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(alice.token), payload: { name: 'sync', scopes: ['mcp:execute'] } });
    expect(r.statusCode).toBe(201);
    const { token, api_token } = r.json() as { token: string; api_token: { id: string } };
    const auth = t.app.services.auth;

    const p1 = await auth.authenticate(apiKeyInput(token));
    const p2: Principal = await auth.authenticate(apiKeyInput(token));
    expect(p2).toEqual(p1);
    expect(p2).toMatchObject({ type: 'user', id: alice.user.id, method: 'api_token', tokenId: api_token.id, scopes: ['mcp:execute'] });

    const before = await failures('invalid_token');
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${api_token.id}`, headers: bearer(alice.token) });
    expect(del.statusCode).toBe(204);
    // The revocation dropped the cached record: the store is read again, and refuses.
    await expect(auth.authenticate(apiKeyInput(token))).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    // Now the revoked record is cached: refused from memory, and still counted.
    await expect(auth.authenticate(apiKeyInput(token))).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    expect(await failures('invalid_token')).toBe(before + 2);
  });

  it('an unknown API token is refused on the async path and then from memory alike', async () => {
    const auth = t.app.services.auth;
    const bogus = `pcl_${'A'.repeat(43)}`;
    await expect(auth.authenticate(apiKeyInput(bogus))).rejects.toMatchObject({ code: 'invalid_token' });
    await expect(auth.authenticate(apiKeyInput(bogus))).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('a disabled owner is refused from memory once the change arrives', async () => {
    const bob = await register(t, 'bob@example.com');
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(bob.token), payload: { name: 'bob' } });
    const { token } = r.json() as { token: string };
    const auth = t.app.services.auth;
    expect(await auth.authenticate(apiKeyInput(token))).toEqual(await auth.authenticate(apiKeyInput(token)));
    const admin = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: 'correct horse battery' } });
    const off = await t.inject({ method: 'PUT', url: `/api/v1/users/${bob.user.id}`, headers: bearer(admin.json().token), payload: { disabled: true } });
    expect(off.statusCode, off.body).toBe(200);
    await expect(auth.authenticate(apiKeyInput(token))).rejects.toMatchObject({ status: 401 });
    await expect(auth.authenticate(apiKeyInput(token))).rejects.toMatchObject({ status: 401 });
  });
});

describe('groups: every read waits for the newest load', () => {
  /** A store whose groups.list() answers when the test says so. */
  function slowGroupsStore() {
    const pending: { resolve: (g: GroupRecord[]) => void }[] = [];
    const store = {
      groups: { list: () => new Promise<GroupRecord[]>((resolve) => pending.push({ resolve })) },
      refreshTokens: { familiesRevokedSince: async () => [] },
    } as unknown as Store;
    return { store, pending };
  }
  const group = (name: string, description: string) => ({ name, description }) as unknown as GroupRecord;

  it('a read during a reload gets the newest load, even when an older one answers last', async () => {
    const { store, pending } = slowGroupsStore();
    const bus = new LocalBus();
    const cache = new IdentityCache(store, bus);
    const warm = cache.warm(60_000);
    await Promise.resolve();
    await Promise.resolve();
    expect(pending).toHaveLength(1);
    pending[0].resolve([group('g', 'v1')]);
    await warm;
    expect((await cache.groupMap()).get('g')?.description).toBe('v1');

    bus.publish({ kind: 'groups' }); // load #2
    const waiting = cache.groupMap();
    bus.publish({ kind: 'groups' }); // load #3 supersedes #2
    expect(pending).toHaveLength(3);
    pending[2].resolve([group('g', 'v3')]);
    pending[1].resolve([group('g', 'v2')]); // the older read answers last: ignored
    expect((await waiting).get('g')?.description).toBe('v3');
    await new Promise((r) => setImmediate(r));
    expect((await cache.groupMap()).get('g')?.description).toBe('v3');
    cache.close();
  });

  it('a failed reload is retried by the next read', async () => {
    let fail = true;
    const store = {
      groups: { list: async () => (fail ? Promise.reject(new Error('db down')) : [group('g', 'back')]) },
      refreshTokens: { familiesRevokedSince: async () => [] },
    } as unknown as Store;
    const bus = new LocalBus();
    const cache = new IdentityCache(store, bus);
    await expect(cache.groupMap()).rejects.toThrow('db down');
    fail = false;
    expect((await cache.groupMap()).get('g')?.description).toBe('back');
    cache.close();
  });
});

describe('sessions: cached() answers exactly what get() would for a session in memory', () => {
  let ts: TestStore;
  let sessions: SessionManager;
  const registry = { get: (name: string) => (name === 'demo' ? { name: 'demo', url: 'http://127.0.0.1:9/mcp', transport: 'streamable-http' } : undefined) } as unknown as ServerRegistry;
  const upstreams = { sessionOpened() {}, sessionClosed() {} } as unknown as UpstreamManager;
  const silent = { debug() {}, info() {}, warn() {}, error() {} };

  beforeAll(async () => {
    ts = await openTestStore('sqlite');
    sessions = new SessionManager(ts.store, registry, upstreams, new LocalBus(), 'replica-1', silent as never);
  });
  afterAll(async () => {
    await sessions?.close();
    await ts?.close();
  });

  it('a hit only for the owner on the same server; a miss for anything else, which get() settles', async () => {
    const def = registry.get('demo')!;
    const s = await sessions.create(def, 'u-1', 'up-1', null);
    expect(sessions.cached(s.id, 'u-1', 'demo')).toBe(s);
    expect(await sessions.get(s.id, 'u-1', 'demo')).toBe(s);
    expect(sessions.cached(s.id, 'u-2', 'demo')).toBeUndefined();
    expect(await sessions.get(s.id, 'u-2', 'demo')).toBeUndefined();
    expect(sessions.cached(s.id, 'u-1', 'other')).toBeUndefined();
    expect(sessions.cached('not-a-session', 'u-1', 'demo')).toBeUndefined();
    expect(await sessions.get('not-a-session', 'u-1', 'demo')).toBeUndefined();
    await sessions.end(s);
    expect(sessions.cached(s.id, 'u-1', 'demo')).toBeUndefined();
    expect(await sessions.get(s.id, 'u-1', 'demo')).toBeUndefined();
  });

  it('a channel-backed session whose channel died is never a hit', async () => {
    const def = registry.get('demo')!;
    const channel = { alive: true, close: async () => {} } as unknown as VirtualSession;
    const s = await sessions.create(def, 'u-3', null, channel);
    expect(sessions.cached(s.id, 'u-3', 'demo')).toBe(s);
    (channel as { alive: boolean }).alive = false;
    expect(sessions.cached(s.id, 'u-3', 'demo')).toBeUndefined();
    expect(await sessions.get(s.id, 'u-3', 'demo')).toBeUndefined();
  });
});
