/**
 * The change feed (cluster/change-feed.ts): invalidations written by one
 * process reach another on the same store through a poll, in order, on
 * SQLite and PostgreSQL, without Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeFeedBus } from '../../src/cluster/index.js';
import { LocalBus, type InvalidationEvent } from '../../src/lib/bus.js';
import { createLogger } from '../../src/lib/logger.js';
import { BACKENDS } from '../helpers/db.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

const silent = createLogger('silent');

function collect(bus: ChangeFeedBus): InvalidationEvent[] {
  const seen: InvalidationEvent[] = [];
  bus.subscribe((e) => seen.push(e));
  return seen;
}

describe.each(BACKENDS)('change feed (%s)', (backend) => {
  let ts: TestStore;
  const opened: ChangeFeedBus[] = [];
  const open = async (origin: string, poll: boolean, retainMs?: number) => {
    const b = await ChangeFeedBus.start(new LocalBus(), ts.store.changeFeed, origin, silent, { poll, pollMs: 60_000, ...(retainMs ? { retainMs } : {}) });
    opened.push(b);
    return b;
  };
  beforeAll(async () => {
    ts = await openTestStore(backend);
  });
  afterAll(async () => {
    for (const b of opened) await b.close();
    await ts?.close();
  });

  it('events written by one process are delivered to another on its next poll, in order, never back to the writer', async () => {
    const gateway = await open('gw-1', true);
    const cli = await open('cli-1', false);
    const atGateway = collect(gateway);
    const atCli = collect(cli);
    cli.publish({ kind: 'user', id: 'u1' });
    cli.publish({ kind: 'token', hash: 'h1' });
    cli.publish({ kind: 'groups' });
    cli.publish({ kind: 'flush' }); // local only: never written
    await cli.flushWrites();
    // the writer delivered to its own subscribers at once
    expect(atCli.map((e) => e.kind)).toEqual(['user', 'token', 'groups', 'flush']);
    expect(atGateway).toEqual([]);
    await gateway.pollNow();
    expect(atGateway).toEqual([{ kind: 'user', id: 'u1' }, { kind: 'token', hash: 'h1' }, { kind: 'groups' }]);
    // its own events come back from the feed: ignored
    gateway.publish({ kind: 'servers' });
    await gateway.flushWrites();
    await gateway.pollNow();
    expect(atGateway.filter((e) => e.kind === 'servers')).toHaveLength(1);
    expect(gateway.received).toBe(3);
  });

  it('a gateway started later does not replay older events; malformed rows are skipped', async () => {
    const cli = await open('cli-2', false);
    cli.publish({ kind: 'user', id: 'old' });
    await cli.flushWrites();
    const late = await open('gw-2', true);
    const seen = collect(late);
    await ts.store.changeFeed.append('evil', ['{"v":1,"r":"evil","e":{"kind":"user"}}', 'not json']);
    cli.publish({ kind: 'user', id: 'new' });
    await cli.flushWrites();
    await late.pollNow();
    expect(seen).toEqual([{ kind: 'user', id: 'new' }]);
  });

  it('concurrent writers get distinct, increasing sequence numbers and a reader sees every event once', async () => {
    const reader = await open('gw-3', true);
    const seen = collect(reader);
    const writers = await Promise.all([0, 1, 2, 3].map((i) => open(`w-${i}`, false)));
    for (let n = 0; n < 25; n++) writers.forEach((w, i) => w.publish({ kind: 'user', id: `${i}-${n}` }));
    await Promise.all(writers.map((w) => w.flushWrites()));
    await reader.pollNow();
    const ids = seen.map((e) => (e as { id: string }).id);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    // each writer's events arrive in the order it published them
    for (let i = 0; i < 4; i++) expect(ids.filter((x) => x.startsWith(`${i}-`))).toEqual(Array.from({ length: 25 }, (_, n) => `${i}-${n}`));
    const rows = await ts.store.changeFeed.after(0, 10_000);
    const seqs = rows.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('a gateway that could not poll for half the retention flushes its caches', async () => {
    const gw = await open('gw-4', true, 200);
    const seen = collect(gw);
    await new Promise((r) => setTimeout(r, 150));
    await gw.pollNow();
    expect(seen).toContainEqual({ kind: 'flush' });
  });

  it('polling gateways are listed as consumers until they leave', async () => {
    const cli = await open('cli-5', false);
    const gw = await open('gw-5', true);
    expect(await cli.liveConsumers()).toContain('gw-5');
    await gw.close();
    expect(await cli.liveConsumers()).not.toContain('gw-5');
  });
});
