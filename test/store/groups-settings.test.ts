/** Groups and settings repositories, the same suite on every backend. */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Store } from '../../src/store/index.js';
import { BACKENDS } from '../helpers/db.js';
import { useTestStore } from '../helpers/store.js';

const eng = { name: 'eng', description: 'Engineering', grants: [{ server: 'demo', tools: ['echo', 'read_*'], access_level: 'execute' as const }] };

describe.each(BACKENDS)('groups store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  beforeAll(async () => {
    s = t.store;
  });

  it('create then get returns the grants as written', async () => {
    const g = await s.groups.create(eng);
    expect(g).toMatchObject({ name: 'eng', description: 'Engineering', grants: eng.grants, source: 'api' });
    expect(await s.groups.get('eng')).toMatchObject({ name: 'eng', grants: eng.grants, source: 'api' });
    expect(await s.groups.get('nope')).toBeUndefined();
  });

  it('create of an existing name is a conflict and changes nothing', async () => {
    expect(await s.groups.create({ name: 'eng', description: 'other', grants: [] })).toBe('conflict');
    expect((await s.groups.get('eng'))?.description).toBe('Engineering');
  });

  it('update changes description and grants; unknown name is undefined', async () => {
    const grants = [{ server: '*', tools: ['*'], access_level: 'read' as const }];
    expect(await s.groups.update('eng', { grants })).toMatchObject({ description: 'Engineering', grants });
    expect(await s.groups.update('eng', { description: 'Eng' })).toMatchObject({ description: 'Eng', grants });
    expect(await s.groups.update('ghost', { description: 'x' })).toBeUndefined();
  });

  it('upsert inserts or replaces and records the source', async () => {
    const a = await s.groups.upsert({ name: 'ops', description: 'Ops', grants: [] }, 'api');
    expect(a).toMatchObject({ name: 'ops', source: 'api' });
    const b = await s.groups.upsert({ name: 'ops', description: 'Operations', grants: eng.grants }, 'config');
    expect(b).toMatchObject({ name: 'ops', description: 'Operations', grants: eng.grants, source: 'config' });
    expect((await s.groups.list()).map((g) => g.name)).toEqual(['eng', 'ops']);
  });

  it('syncFromConfig makes config-sourced groups equal the file, leaving API groups alone', async () => {
    await s.groups.syncFromConfig([
      { name: 'cfg-a', description: 'A', grants: [] },
      { name: 'cfg-b', description: 'B', grants: eng.grants },
    ]);
    // ops was config-sourced (by the upsert above) and is not in the file: gone
    expect((await s.groups.list()).map((g) => [g.name, g.source])).toEqual([
      ['cfg-a', 'config'],
      ['cfg-b', 'config'],
      ['eng', 'api'],
    ]);
    // removing a group from the file removes it from the store; a changed one is replaced
    await s.groups.syncFromConfig([{ name: 'cfg-b', description: 'B2', grants: [] }]);
    expect((await s.groups.list()).map((g) => [g.name, g.source, g.description])).toEqual([
      ['cfg-b', 'config', 'B2'],
      ['eng', 'api', 'Eng'],
    ]);
  });

  it('delete', async () => {
    expect(await s.groups.delete('eng')).toBe(true);
    expect(await s.groups.delete('eng')).toBe(false);
    expect(await s.groups.get('eng')).toBeUndefined();
  });
});

describe.each(BACKENDS)('settings store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  beforeAll(async () => {
    s = t.store;
  });

  it('getOrInit stores the first value and returns it forever after', async () => {
    expect(await s.settings.get('signing')).toBeUndefined();
    expect(await s.settings.getOrInit('signing', () => 'first')).toBe('first');
    expect(await s.settings.getOrInit('signing', () => 'second')).toBe('first');
    expect(await s.settings.get('signing')).toBe('first');
  });

  it('concurrent getOrInit calls agree on one value', async () => {
    let made = 0;
    const values = await Promise.all(Array.from({ length: 10 }, () => s.settings.getOrInit('race', () => `v${made++}`)));
    expect(new Set(values).size).toBe(1);
    expect(await s.settings.get('race')).toBe(values[0]);
  });

  it('two stores on the same database agree too (two replicas starting together)', async () => {
    const { openStore } = await import('../../src/store/index.js');
    const other = await openStore(t.db.url, { poolSize: 2 });
    try {
      const [a, b] = await Promise.all([s.settings.getOrInit('shared', () => 'from-a'), other.settings.getOrInit('shared', () => 'from-b')]);
      expect(a).toBe(b);
    } finally {
      await other.close();
    }
  });
});
