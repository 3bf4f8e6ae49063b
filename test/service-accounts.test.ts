import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/binary.js';
import { exerciseProvider, startExternalE2e, type ExternalE2e } from './helpers/external-e2e.js';
import { BACKENDS } from './helpers/db.js';
import { buildApp } from '../src/app.js';
import { openStore } from '../src/store/index.js';
import { bearer, register, startTestApp, testConfig, type TestApp } from './helpers/app.js';
import { basicAuth, clientCredentialsToken, createServiceAccount, tokenRequest } from './helpers/service-accounts.js';

describe.each(BACKENDS)('service accounts (%s)', (backend) => {
  let t: TestApp;
  let admin: string;
  let user: string;
  const secrets: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ backend, config: { groups: [{ name: 'ci', grants: [{ server: '*', tools: ['*'], access_level: 'read' }] }] } });
    admin = (await register(t, 'admin@example.com')).token;
    user = (await register(t, 'user@example.com')).token;
  });
  afterAll(async () => t.close());

  it('an admin creates one: client_id sa_…, a pcs_ secret with at least 128 bits, shown once', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(admin), payload: { name: 'ci-runner', groups: ['ci', 'ci'], description: 'CI' } });
    expect(r.statusCode).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    const b = r.json();
    expect(b.client_id).toMatch(/^sa_[0-9a-f]{24}$/);
    expect(b.client_secret).toMatch(/^pcs_[A-Za-z0-9_-]{43}$/);
    expect(b).toMatchObject({ name: 'ci-runner', groups: ['ci'], description: 'CI' });
    secrets.push(b.client_secret);

    const list = await t.inject({ method: 'GET', url: '/api/v1/service-accounts', headers: bearer(admin) });
    expect(list.statusCode).toBe(200);
    expect(list.json().service_accounts).toEqual([expect.objectContaining({ client_id: b.client_id, name: 'ci-runner', groups: ['ci'] })]);
    expect(list.body).not.toContain(b.client_secret);
    expect(list.body).not.toContain('argon2');
    expect(list.body).not.toContain('client_secret');
    const one = await t.inject({ method: 'GET', url: `/api/v1/service-accounts/${b.client_id}`, headers: bearer(admin) });
    expect(one.statusCode).toBe(200);
    expect(one.body).not.toContain('secret');
  });

  it('names are unique; bodies are validated', async () => {
    const dup = await t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(admin), payload: { name: 'ci-runner', groups: [] } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('conflict');
    const bad = await t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(admin), payload: { name: 'bad name!', groups: 'ci' } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors.map((e: { field: string }) => e.field).sort()).toEqual(['groups', 'name']);
  });

  it('only admins manage service accounts', async () => {
    const anon = await t.inject({ method: 'GET', url: '/api/v1/service-accounts' });
    expect(anon.statusCode).toBe(401);
    for (const [method, url] of [
      ['GET', '/api/v1/service-accounts'],
      ['POST', '/api/v1/service-accounts'],
      ['DELETE', '/api/v1/service-accounts/sa_000000000000000000000000'],
      ['POST', '/api/v1/service-accounts/sa_000000000000000000000000/rotate-secret'],
    ] as const) {
      const r = await t.inject({ method, url, headers: bearer(user), ...(method === 'POST' && !url.endsWith('secret') ? { payload: { name: 'x', groups: [] } } : {}) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.json().code).toBe('forbidden');
    }
    const missing = await t.inject({ method: 'DELETE', url: '/api/v1/service-accounts/sa_000000000000000000000000', headers: bearer(admin) });
    expect(missing.statusCode).toBe(404);
  });

  it('a client_credentials token authenticates as the account with its current groups', async () => {
    const sa = await createServiceAccount(t, admin, { name: 'reporter', groups: ['ci'] });
    secrets.push(sa.client_secret);
    const token = await clientCredentialsToken(t, sa.client_id, sa.client_secret);
    const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({
      id: `sa:${sa.client_id}`,
      type: 'service_account',
      username: 'reporter',
      role: 'user',
      groups: ['ci'],
      auth: { method: 'client_credentials', scopes: ['mcp:read', 'mcp:execute', 'api:read', 'api:write'] },
    });
    // the token carries no admin rights, whatever it asks for
    const list = await t.inject({ method: 'GET', url: '/api/v1/service-accounts', headers: bearer(token) });
    expect(list.statusCode).toBe(403);

    // a group change applies to the very next request with the same token
    const upd = await t.inject({ method: 'PUT', url: `/api/v1/service-accounts/${sa.client_id}`, headers: bearer(admin), payload: { groups: ['ops', 'ci'] } });
    expect(upd.statusCode).toBe(200);
    const me2 = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
    expect(me2.json().groups).toEqual(['ops', 'ci']);
  });

  it('deleting the account kills its tokens on the next request', async () => {
    const sa = await createServiceAccount(t, admin, { name: 'doomed', groups: ['ci'] });
    secrets.push(sa.client_secret);
    const token = await clientCredentialsToken(t, sa.client_id, sa.client_secret);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) })).statusCode).toBe(200);
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/service-accounts/${sa.client_id}`, headers: bearer(admin) });
    expect(del.statusCode).toBe(204);
    const after = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('user_disabled');
    expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
    const again = await tokenRequest(t, { grant_type: 'client_credentials' }, basicAuth(sa.client_id, sa.client_secret));
    expect(again.statusCode).toBe(401);
    expect(again.json().error).toBe('invalid_client');
  });

  it('rotating the secret: the new one works, the old one is refused at once', async () => {
    const sa = await createServiceAccount(t, admin, { name: 'rotator', groups: [] });
    const rot = await t.inject({ method: 'POST', url: `/api/v1/service-accounts/${sa.client_id}/rotate-secret`, headers: bearer(admin) });
    expect(rot.statusCode).toBe(200);
    expect(rot.headers['cache-control']).toBe('no-store');
    const fresh = rot.json().client_secret as string;
    expect(fresh).toMatch(/^pcs_/);
    expect(fresh).not.toBe(sa.client_secret);
    secrets.push(sa.client_secret, fresh);
    const old = await tokenRequest(t, { grant_type: 'client_credentials' }, basicAuth(sa.client_id, sa.client_secret));
    expect(old.statusCode).toBe(401);
    expect(old.json().error).toBe('invalid_client');
    expect(typeof (await clientCredentialsToken(t, sa.client_id, fresh))).toBe('string');
  });

  it('changes are audited and no secret reaches the audit log or the logs', async () => {
    await t.app.services.audit.flush();
    const rows = await t.store.db.kysely.selectFrom('audit_events').selectAll().where('action', 'like', 'service_account.%').execute();
    expect(new Set(rows.map((r) => r.action))).toEqual(new Set(['service_account.create', 'service_account.update', 'service_account.delete', 'service_account.rotate']));
    const tokens = await t.store.db.kysely.selectFrom('audit_events').selectAll().where('action', '=', 'oauth.token').execute();
    expect(tokens.some((r) => r.status === 200 && r.actor_type === 'service_account')).toBe(true);
    expect(tokens.some((r) => r.status === 401)).toBe(true);
    const all = JSON.stringify(await t.store.db.kysely.selectFrom('audit_events').selectAll().execute()) + t.logs.join('');
    expect(secrets.length).toBeGreaterThan(3);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis service-accounts (CLI, real binary)', { timeout: 120_000 }, () => {
  let dir: string;
  let configFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-sa-cli-'));
    configFile = join(dir, 'portcullis.yaml');
    writeFileSync(configFile, 'storage:\n  url: sqlite:./data/p.db\nlogging:\n  level: silent\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cli = (...args: string[]) => runCli(['--config', configFile, ...args], { cwd: dir });

  it('create, list, set-groups, rotate-secret and delete, with --json; the secrets work at the token endpoint', async () => {
    const created = await cli('--json', 'service-accounts', 'create', '--name', 'nightly', '--groups', 'ci,ops', '--description', 'nightly jobs');
    expect(created.code, created.stderr).toBe(0);
    const a = JSON.parse(created.stdout);
    expect(a).toMatchObject({ name: 'nightly', groups: ['ci', 'ops'], description: 'nightly jobs' });
    expect(a.client_id).toMatch(/^sa_[0-9a-f]{24}$/);
    expect(a.client_secret).toMatch(/^pcs_/);

    const human = await cli('service-accounts', 'list');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/CLIENT_ID\s+NAME/);
    expect(human.stdout).toContain(a.client_id);
    const listed = await cli('--json', 'service-accounts', 'list');
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ client_id: a.client_id, name: 'nightly' })]);
    expect(listed.stdout).not.toContain(a.client_secret);

    const dup = await cli('--json', 'service-accounts', 'create', '--name', 'nightly');
    expect(dup.code).toBe(1);
    expect(JSON.parse(dup.stderr).error.code).toBe('conflict');
    const bad = await cli('service-accounts', 'create', '--name', 'bad name');
    expect(bad.code).toBe(2);

    const regrouped = await cli('--json', 'service-accounts', 'set-groups', 'nightly', '--groups', 'ci');
    expect(JSON.parse(regrouped.stdout).groups).toEqual(['ci']);

    const rotated = await cli('--json', 'service-accounts', 'rotate-secret', a.client_id);
    expect(rotated.code).toBe(0);
    const fresh = JSON.parse(rotated.stdout).client_secret;
    expect(fresh).not.toBe(a.client_secret);

    // the gateway on the same store accepts the new secret and refuses the old one
    const config = testConfig({ storage: { url: `sqlite:${join(dir, 'data', 'p.db')}` } });
    const store = await openStore(config.storage.url);
    const app = await buildApp({ config, store });
    const gw = { inject: app.http.inject.bind(app.http) };
    try {
      expectStatus(await tokenRequest(gw, { grant_type: 'client_credentials' }, basicAuth(a.client_id, a.client_secret)), 401);
      const ok = await tokenRequest(gw, { grant_type: 'client_credentials' }, basicAuth(a.client_id, fresh));
      expectStatus(ok, 200);
      const me = await gw.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(ok.json().access_token) });
      expect(me.json()).toMatchObject({ id: `sa:${a.client_id}`, groups: ['ci'] });
    } finally {
      await app.close();
      await store.close();
    }

    const del = await cli('service-accounts', 'delete', 'nightly');
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`deleted service account ${a.client_id}`);
    const empty = await cli('--json', 'service-accounts', 'list');
    expect(JSON.parse(empty.stdout)).toEqual([]);
    const gone = await cli('--json', 'service-accounts', 'delete', 'nightly');
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stderr).error.code).toBe('not_found');
  });
});

function expectStatus(r: { statusCode: number; body: string }, status: number) {
  expect(r.statusCode, r.body).toBe(status);
}

describe('e2e: service-account tokens through /mcp', () => {
  let e: ExternalE2e;
  let admin: string;
  beforeAll(async () => {
    e = await startExternalE2e([]);
    admin = (await register(e.t, 'admin@example.com')).token;
  });
  afterAll(async () => e.close());

  it("a client_credentials token lists and calls tools with the account's group grants; a deleted account's token gets 401 and reaches nothing", async () => {
    const eng = await createServiceAccount(e.t, admin, { name: 'eng-bot', groups: ['eng'] });
    const reader = await createServiceAccount(e.t, admin, { name: 'dashboard', groups: ['readers'] });
    const gone = await createServiceAccount(e.t, admin, { name: 'gone', groups: ['eng'] });
    const goneToken = await clientCredentialsToken(e.t, gone.client_id, gone.client_secret);
    expect((await e.t.inject({ method: 'DELETE', url: `/api/v1/service-accounts/${gone.client_id}`, headers: bearer(admin) })).statusCode).toBe(204);
    await exerciseProvider(
      e,
      {
        eng: await clientCredentialsToken(e.t, eng.client_id, eng.client_secret),
        reader: await clientCredentialsToken(e.t, reader.client_id, reader.client_secret),
        bad: goneToken,
      },
      expect,
    );
  });

  it('a token scoped to mcp:read lists but cannot call (insufficient_scope), and the upstream sees no call', async () => {
    const sa = await createServiceAccount(e.t, admin, { name: 'read-only', groups: ['eng'] });
    const token = await clientCredentialsToken(e.t, sa.client_id, sa.client_secret, 'mcp:read');
    const client = await e.connect(token);
    expect((await client.listTools()).tools.map((x) => x.name).sort()).toEqual(['add', 'echo']);
    const calls = () => e.upstream.requests.filter((r) => (r.body as { method?: string })?.method === 'tools/call').length;
    const before = calls();
    await expect(client.callTool({ name: 'echo', arguments: { text: 'no' } })).rejects.toThrow(/insufficient_scope/);
    expect(calls()).toBe(before);
  });
});
