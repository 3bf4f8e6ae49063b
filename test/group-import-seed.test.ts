/**
 * The seed's group files import as they are (issue 27): registry-only keys
 * such as `create_in_idp` are accepted and reported as not applicable, never
 * a reason to refuse the file; `server_access` entries become grants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupImportError } from '../src/auth/group-admin.js';
import { readGroupDocument } from '../src/auth/group-import.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';

/** The group file of the MCP Gateway Registry docs, as written there. */
const SEED_FILE = {
  scope_name: 'public-mcp-users',
  description: 'Users with access to public MCP servers',
  servers: [{ server_name: 'currenttime', tools: ['*'], access_level: 'execute' }],
  create_in_idp: true,
};

describe('seed group files', () => {
  it('create_in_idp and the other registry-only keys are accepted and reported as not applicable', () => {
    const doc = readGroupDocument([SEED_FILE, { ...SEED_FILE, scope_name: 'more', group_mappings: ['idp-group'], ui_permissions: { list_service: ['all'] }, agent_access: [] }]);
    expect(doc.groups).toEqual([
      { name: 'public-mcp-users', description: 'Users with access to public MCP servers', grants: [{ server: 'currenttime', tools: ['*'], access_level: 'execute' }] },
      { name: 'more', description: 'Users with access to public MCP servers', grants: [{ server: 'currenttime', tools: ['*'], access_level: 'execute' }] },
    ]);
    expect(doc.notApplicable.map((l) => l.split(':')[0])).toEqual(['[0].create_in_idp', '[1].create_in_idp', '[1].group_mappings', '[1].ui_permissions', '[1].agent_access']);
    expect(doc.notApplicable[0]).toMatch(/^\[0\]\.create_in_idp: not applicable: /);
  });

  it('server_access entries become grants: execute when a call method is listed, read otherwise; agent entries do not apply', () => {
    const doc = readGroupDocument({
      _id: 'currenttime-users',
      server_access: [
        { server: '/currenttime', methods: ['initialize', 'tools/list', 'tools/call'], tools: ['current_time_by_timezone'] },
        { server: 'docs', methods: ['initialize', 'resources/list'], tools: '*' },
        { agents: { actions: [{ action: 'list_agents', resources: ['/a'] }] } },
      ],
    });
    expect(doc.groups).toEqual([
      {
        name: 'currenttime-users',
        description: '',
        grants: [
          { server: 'currenttime', tools: ['current_time_by_timezone'], access_level: 'execute' },
          { server: 'docs', tools: ['*'], access_level: 'read' },
        ],
      },
    ]);
    expect(doc.notApplicable).toEqual([expect.stringMatching(/^server_access\[2\]: not applicable: /)]);
  });

  it('other unknown keys are still refused, with a suggestion', () => {
    try {
      readGroupDocument({ scope_name: 'x', servers: [], create_in_ipd: true });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GroupImportError);
      expect((e as GroupImportError).problems).toEqual(['create_in_ipd: unknown key; did you mean create_in_idp?']);
    }
  });
});

describe('POST /api/v1/groups/import', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await startTestApp();
    admin = (await register(t, 'admin@example.com')).token;
  });
  afterAll(async () => t?.close());

  it('imports the file as the CLI reads it and names what does not apply', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/groups/import', headers: bearer(admin), payload: SEED_FILE });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ created: ['public-mcp-users'], updated: [], not_applicable: [expect.stringMatching(/^create_in_idp: not applicable/)] });
    const list = await t.inject({ method: 'GET', url: '/api/v1/groups/public-mcp-users', headers: bearer(admin) });
    expect(list.json().grants).toEqual([{ server: 'currenttime', tools: ['*'], access_level: 'execute' }]);
    const bad = await t.inject({ method: 'POST', url: '/api/v1/groups/import', headers: bearer(admin), payload: [{ scope_name: 'Bad Name' }] });
    expect(bad.statusCode).toBe(422);
  });
});
