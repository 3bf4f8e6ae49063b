import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupImportError } from '../src/auth/group-admin.js';
import { parseGroupDocument } from '../src/auth/group-import.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

const problemsOf = (doc: unknown): string[] => {
  try {
    parseGroupDocument(doc);
  } catch (e) {
    if (e instanceof GroupImportError) return e.problems;
    throw e;
  }
  throw new Error('expected the document to be refused');
};

describe('group documents (import formats)', () => {
  it('accepts our format and the seed format, single or as a list', () => {
    const ours = { name: 'eng', description: 'Engineering', grants: [{ server: 'demo', tools: ['echo', 'read_*'], access_level: 'execute' }] };
    const seed = { scope_name: 'support', description: 'Support desk', servers: [{ server_name: 'tickets', tools: ['*'], access_level: 'read' }, { server_name: '*', tools: 'ping', access_level: 'EXECUTE' }] };
    expect(parseGroupDocument(ours)).toEqual([ours]);
    expect(parseGroupDocument([ours, seed])).toEqual([
      ours,
      {
        name: 'support',
        description: 'Support desk',
        grants: [
          { server: 'tickets', tools: ['*'], access_level: 'read' },
          { server: '*', tools: ['ping'], access_level: 'execute' },
        ],
      },
    ]);
    expect(parseGroupDocument({ groups: [ours] })).toEqual([ours]);
    expect(parseGroupDocument({ name: 'empty' })).toEqual([{ name: 'empty', description: '', grants: [] }]);
  });

  it('reports every problem with its path', () => {
    const problems = problemsOf([
      { name: 'ok', grants: [{ server: 'demo', tools: ['x'], access_level: 'write' }] },
      { scope_name: 'bad name!', servers: [{ server_name: 'Demo', tools: [], access_level: 'read', extra: 1 }] },
      'not a group',
      { name: 'ok' },
    ]);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\[0\]\.grants\[0\]\.access_level: /),
        expect.stringMatching(/^\[1\]\.scope_name: /),
        expect.stringMatching(/^\[1\]\.servers\[0\]\.server_name: /),
        expect.stringMatching(/^\[1\]\.servers\[0\]\.tools: /),
        '[1].servers[0].extra: unknown key',
        '[2]: must be a group object',
        expect.stringMatching(/^\[3\]\.name: duplicate group name ok/),
      ]),
    );
    expect(problemsOf({ name: 'x', grants: [{ server: 'demo', tools: ['a'] }] })).toEqual([expect.stringMatching(/^grants\[0\]\.access_level: /)]);
    expect(problemsOf([])).toEqual(['(root): no groups to import']);
    expect(problemsOf('text')[0]).toMatch(/^\(root\)/);
  });
});

describe.each(BACKENDS)('groups API (%s)', (backend) => {
  let t: TestApp;
  let admin: { token: string };
  let viewer: { token: string };
  let plain: { token: string };
  const configGroup = { name: 'from-config', description: 'defined in the file', grants: [{ server: 'demo', tools: ['*'], access_level: 'read' }] };

  beforeAll(async () => {
    t = await startTestApp({ backend, config: { groups: [configGroup] } });
    admin = await register(t, 'admin@example.com');
    plain = await register(t, 'plain@example.com');
    const v = await register(t, 'viewer@example.com');
    await t.inject({ method: 'PUT', url: `/api/v1/users/${v.user.id}`, headers: bearer(admin.token), payload: { role: 'viewer' } });
    viewer = v;
  });
  afterAll(async () => t?.close());

  const eng = { name: 'eng', description: 'Engineering', grants: [{ server: 'demo', tools: ['echo', 'read_*'], access_level: 'execute' }] };

  it('admin creates a group; viewer reads it; the grants reach the cache at once', async () => {
    const c = await t.inject({ method: 'POST', url: '/api/v1/groups', headers: bearer(admin.token), payload: eng });
    expect(c.statusCode).toBe(201);
    expect(c.json()).toMatchObject({ ...eng, source: 'api' });
    const map = await t.app.services.cache.groupMap();
    expect(map.get('eng')?.grants).toEqual(eng.grants);

    const list = await t.inject({ method: 'GET', url: '/api/v1/groups', headers: bearer(viewer.token) });
    expect(list.statusCode).toBe(200);
    expect(list.json().groups.map((g: { name: string }) => g.name)).toEqual(['eng', 'from-config']);
    const one = await t.inject({ method: 'GET', url: '/api/v1/groups/eng', headers: bearer(viewer.token) });
    expect(one.json()).toMatchObject(eng);
    expect((await t.inject({ method: 'GET', url: '/api/v1/groups/nope', headers: bearer(viewer.token) })).statusCode).toBe(404);

    const dup = await t.inject({ method: 'POST', url: '/api/v1/groups', headers: bearer(admin.token), payload: eng });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('conflict');
  });

  it('viewers and users cannot write (403 forbidden); users cannot read', async () => {
    for (const auth of [bearer(viewer.token), bearer(plain.token)]) {
      const c = await t.inject({ method: 'POST', url: '/api/v1/groups', headers: auth, payload: { name: 'x' } });
      expect(c.statusCode).toBe(403);
      expect(c.json().code).toBe('forbidden');
      const d = await t.inject({ method: 'DELETE', url: '/api/v1/groups/eng', headers: auth });
      expect(d.statusCode).toBe(403);
    }
    const r = await t.inject({ method: 'GET', url: '/api/v1/groups', headers: bearer(plain.token) });
    expect(r.statusCode).toBe(403);
    expect((await t.store.groups.get('eng'))?.grants).toEqual(eng.grants);
  });

  it('invalid bodies get 422 naming the field', async () => {
    for (const [payload, field] of [
      [{ name: 'bad name' }, 'name'],
      [{ name: 'g1', grants: [{ server: 'demo', tools: ['a'], access_level: 'admin' }] }, 'grants[0].access_level'],
      [{ name: 'g1', grants: [{ server: 'Demo!', tools: ['a'], access_level: 'read' }] }, 'grants[0].server'],
      [{ name: 'g1', grants: [{ server: 'demo', tools: [], access_level: 'read' }] }, 'grants[0].tools'],
      [{ name: 'g1', color: 'red' }, 'color'],
    ] as const) {
      const r = await t.inject({ method: 'POST', url: '/api/v1/groups', headers: bearer(admin.token), payload });
      expect(r.statusCode, JSON.stringify(payload)).toBe(422);
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const rename = await t.inject({ method: 'PUT', url: '/api/v1/groups/eng', headers: bearer(admin.token), payload: { name: 'other' } });
    expect(rename.statusCode).toBe(422);
    expect(rename.json().errors[0].field).toBe('name');
  });

  it('PUT changes the given fields and the cache follows; DELETE removes', async () => {
    const grants = [{ server: 'files', tools: ['list_*'], access_level: 'read' }];
    const p = await t.inject({ method: 'PUT', url: '/api/v1/groups/eng', headers: bearer(admin.token), payload: { grants } });
    expect(p.statusCode).toBe(200);
    expect(p.json()).toMatchObject({ name: 'eng', description: 'Engineering', grants });
    expect((await t.app.services.cache.groupMap()).get('eng')?.grants).toEqual(grants);
    expect((await t.inject({ method: 'PUT', url: '/api/v1/groups/nope', headers: bearer(admin.token), payload: { description: 'x' } })).statusCode).toBe(404);

    const d = await t.inject({ method: 'DELETE', url: '/api/v1/groups/eng', headers: bearer(admin.token) });
    expect(d.statusCode).toBe(204);
    expect((await t.app.services.cache.groupMap()).has('eng')).toBe(false);
    expect((await t.inject({ method: 'GET', url: '/api/v1/groups/eng', headers: bearer(admin.token) })).statusCode).toBe(404);
  });

  it('config-file groups are read-only (409 read_only)', async () => {
    const put = await t.inject({ method: 'PUT', url: '/api/v1/groups/from-config', headers: bearer(admin.token), payload: { description: 'changed' } });
    expect(put.statusCode).toBe(409);
    expect(put.json().code).toBe('read_only');
    const del = await t.inject({ method: 'DELETE', url: '/api/v1/groups/from-config', headers: bearer(admin.token) });
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('read_only');
    const post = await t.inject({ method: 'POST', url: '/api/v1/groups', headers: bearer(admin.token), payload: { name: 'from-config' } });
    expect(post.statusCode).toBe(409);
    expect(post.json().code).toBe('read_only');
    const g = await t.inject({ method: 'GET', url: '/api/v1/groups/from-config', headers: bearer(admin.token) });
    expect(g.json()).toMatchObject({ ...configGroup, source: 'config' });
  });

  it('audits group changes', async () => {
    await t.app.services.audit.flush();
    const rows = await t.store.db.kysely.selectFrom('audit_events').select('action').where('action', 'like', 'group.%').execute();
    expect(new Set(rows.map((r) => r.action))).toEqual(new Set(['group.create', 'group.update', 'group.delete']));
  });
});
