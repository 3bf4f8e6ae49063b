import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IdentityCache } from '../../src/auth/identity-cache.js';
import { decodeMessage, openCluster, RedisBus, RedisConnections, type Cluster } from '../../src/cluster/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { LocalBus, type InvalidationEvent } from '../../src/lib/bus.js';
import { openStore, type Store } from '../../src/store/index.js';
import { testConfig } from '../helpers/app.js';
import { createSqliteDatabase, REDIS_URL, type TestDb } from '../helpers/db.js';

const logs: string[] = [];
const logger = createLogger(
  'debug',
  new Writable({
    write(chunk, _e, cb) {
      logs.push(String(chunk));
      cb();
    },
  }),
);

/** Resolve when `pred` holds, polling every 10 ms; fail after `ms`. */
async function until(pred: () => boolean, ms = 1_000): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

function collect(bus: { subscribe(fn: (e: InvalidationEvent) => void): () => void }): InvalidationEvent[] {
  const got: InvalidationEvent[] = [];
  bus.subscribe((e) => got.push(e));
  return got;
}

const settings = () => ({ url: REDIS_URL, key_prefix: `pcl-test-${randomBytes(6).toString('hex')}:` });

describe('redis bus: invalidations reach every replica', () => {
  const opened: { close(): Promise<void> }[] = [];
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close();
  });
  afterAll(async () => {
    admin.disconnect();
  });

  async function replica(s: { url: string; key_prefix: string }, id: string, degradedFlushMs = 1_000) {
    const conns = new RedisConnections(s, logger, id);
    const bus = await RedisBus.start(conns, logger, { degradedFlushMs });
    opened.push(conns, bus);
    return { conns, bus };
  }

  it('an event published on A is applied on A at once and on B within 1 s, and A ignores its own echo', async () => {
    const s = settings();
    const a = await replica(s, 'replica-a');
    const b = await replica(s, 'replica-b');
    const gotA = collect(a.bus);
    const gotB = collect(b.bus);
    a.bus.publish({ kind: 'token', hash: 'h1' });
    expect(gotA).toEqual([{ kind: 'token', hash: 'h1' }]); // synchronous local delivery
    const ms = await until(() => gotB.length === 1);
    expect(ms).toBeLessThan(1_000);
    expect(gotB).toEqual([{ kind: 'token', hash: 'h1' }]);
    b.bus.publish({ kind: 'user', id: 'u1' });
    await until(() => gotA.length === 2);
    // give a possible echo time to arrive: A must still have exactly its two events
    await new Promise((r) => setTimeout(r, 100));
    expect(gotA).toEqual([{ kind: 'token', hash: 'h1' }, { kind: 'user', id: 'u1' }]);
    expect(gotB).toEqual([{ kind: 'token', hash: 'h1' }, { kind: 'user', id: 'u1' }]);
    expect(a.bus.channel).toBe(`${s.key_prefix}invalidate`);
  });

  it('replicas with another key_prefix do not hear each other', async () => {
    const a = await replica(settings(), 'a');
    const b = await replica(settings(), 'b');
    const gotB = collect(b.bus);
    a.bus.publish({ kind: 'groups' });
    await new Promise((r) => setTimeout(r, 200));
    expect(gotB).toEqual([]);
  });

  it('malformed messages on the channel are ignored and logged', async () => {
    const s = settings();
    const b = await replica(s, 'b');
    const gotB = collect(b.bus);
    const channel = `${s.key_prefix}invalidate`;
    await admin.publish(channel, 'not json');
    await admin.publish(channel, JSON.stringify({ v: 1, r: 'x', e: { kind: 'nope' } }));
    await admin.publish(channel, JSON.stringify({ v: 1, r: 'x', e: { kind: 'token' } }));
    await admin.publish(channel, JSON.stringify({ v: 1, r: 'x', e: { kind: 'token', hash: 'ok' } }));
    await until(() => gotB.length === 1);
    expect(gotB).toEqual([{ kind: 'token', hash: 'ok' }]);
    expect(logs.some((l) => l.includes('malformed invalidation message'))).toBe(true);
    expect(decodeMessage(JSON.stringify({ v: 1, r: 'x', e: { kind: '__proto__' } }))).toBeUndefined();
  });

  it('after the subscriber connection is cut, the replica flushes its caches and hears events again', async () => {
    const s = settings();
    const a = await replica(s, 'a');
    const b = await replica(s, `b-${randomBytes(4).toString('hex')}`, 200);
    const gotB = collect(b.bus);
    const list = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    const line = list.split('\n').find((l) => l.includes(`name=portcullis:sub:${b.conns.replicaId}`));
    expect(line).toBeDefined();
    const id = /\bid=(\d+)/.exec(line!)![1];
    await admin.call('CLIENT', 'KILL', 'ID', id);
    // flushed at once on disconnect, and once more after re-subscribing
    await until(() => gotB.filter((e) => e.kind === 'flush').length >= 2, 5_000);
    await until(() => b.bus.connected, 5_000);
    a.bus.publish({ kind: 'family', id: 'f1' });
    await until(() => gotB.some((e) => e.kind === 'family'));
    expect(gotB.filter((e) => e.kind !== 'flush')).toEqual([{ kind: 'family', id: 'f1' }]);
  });

  it("an event published while the publisher's connection is down is sent when it reconnects", async () => {
    const s = settings();
    const a = await replica(s, `a-${randomBytes(4).toString('hex')}`);
    const b = await replica(s, 'b');
    const gotB = collect(b.bus);
    const list = String(await admin.call('CLIENT', 'LIST'));
    const line = list.split('\n').find((l) => l.includes(`name=portcullis:pub:${a.conns.replicaId}`));
    expect(line).toBeDefined();
    await admin.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]);
    a.bus.publish({ kind: 'user', id: 'changed-during-outage' });
    await until(() => gotB.some((e) => e.kind === 'user'), 5_000);
    expect(gotB).toContainEqual({ kind: 'user', id: 'changed-during-outage' });
  });

  it('start fails clearly when Redis is unreachable', async () => {
    const conns = new RedisConnections({ url: 'redis://127.0.0.1:1', key_prefix: 'x:' }, logger, 'dead');
    opened.push(conns);
    await expect(RedisBus.start(conns, logger, { startTimeoutMs: 300 })).rejects.toThrow(/not reachable/);
    await expect(conns.ping()).rejects.toThrow();
  });

  it('openCluster uses Redis when configured and the local bus otherwise', async () => {
    const s = settings();
    const withRedis: Cluster = await openCluster(testConfig({ redis: s }), logger);
    opened.push(withRedis);
    expect(withRedis.bus).toBeInstanceOf(RedisBus);
    expect(withRedis.redis).not.toBeNull();
    await withRedis.redis!.ping();
    const without = await openCluster(testConfig({}), logger);
    opened.push(without);
    expect(without.bus).toBeInstanceOf(LocalBus);
    expect(without.redis).toBeNull();
  });
});

describe('identity cache: a flush forgets everything cached', () => {
  let db: TestDb;
  let store: Store;
  beforeAll(async () => {
    db = createSqliteDatabase();
    store = await openStore(db.url);
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('a user disabled and a group changed without an event are seen after a flush', async () => {
    const bus = new LocalBus();
    const cache = new IdentityCache(store, bus);
    await cache.warm(60_000);
    const u = await store.users.create({ email: 'flush@example.com', passwordHash: null, groups: ['g'] });
    await store.groups.create({ name: 'g', description: 'before', grants: [] });
    bus.publish({ kind: 'groups' });
    expect((await cache.user(u.id))?.disabled).toBe(false);
    expect((await cache.groupMap()).get('g')?.description).toBe('before');

    // another replica's changes whose events were lost
    await store.users.update(u.id, { disabled: true });
    await store.groups.update('g', { description: 'after' });
    expect((await cache.user(u.id))?.disabled).toBe(false); // still cached: that is the risk
    bus.publish({ kind: 'flush' });
    expect((await cache.user(u.id))?.disabled).toBe(true);
    expect((await cache.groupMap()).get('g')?.description).toBe('after');
    cache.close();
  });
});
