/**
 * The real binary: users, tokens and groups commands on the configured store.
 * Needs dist/ (`npm test` builds it first).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createLogger } from '../src/lib/logger.js';
import { openStore, type Store } from '../src/store/index.js';
import { testConfig } from './helpers/app.js';
import { BIN, cleanEnv, runCli } from './helpers/binary.js';
import { REDIS_URL } from './helpers/db.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-cli-admin-'));
const dbFile = join(dir, 'data', 'portcullis.db');
const cfg = join(dir, 'portcullis.yaml');
const redisPrefix = `pcl-cli-${randomBytes(4).toString('hex')}:`;
const redisCfg = join(dir, 'with-redis.yaml');
const configGroup = { name: 'from-config', description: 'in the file', grants: [{ server: 'demo', tools: ['*'], access_level: 'read' }] };

writeFileSync(
  cfg,
  `storage:\n  url: sqlite:./data/portcullis.db\nlogging:\n  level: silent\ngroups:\n  - name: from-config\n    description: in the file\n    grants:\n      - { server: demo, tools: ["*"], access_level: read }\n`,
);
writeFileSync(redisCfg, `storage:\n  url: sqlite:./data/portcullis.db\nredis:\n  url: ${REDIS_URL}\n  key_prefix: "${redisPrefix}"\nlogging:\n  level: silent\n`);

const cli = (...args: string[]) => runCli(['--config', cfg, ...args]);
const cliJson = async (...args: string[]) => {
  const r = await runCli(['--config', cfg, '--json', ...args]);
  if (r.code !== 0) throw new Error(`portcullis ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
};

/** Run with data on stdin (runCli ignores stdin). */
async function cliStdin(input: string, ...args: string[]) {
  const child = spawn(process.execPath, [BIN, '--config', cfg, ...args], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

// A gateway (in-process) on the same store, to prove the CLI's changes are the real thing.
let gw: { app: App; store: Store };
async function startGateway(withRedis: boolean) {
  const store = await openStore(`sqlite:${dbFile}`);
  const config = testConfig({
    storage: { url: `sqlite:${dbFile}` },
    groups: [configGroup],
    ...(withRedis ? { redis: { url: REDIS_URL, key_prefix: redisPrefix } } : {}),
  });
  const app = await buildApp({ config, store, logger: createLogger('silent') });
  return { app, store };
}

beforeAll(async () => {
  // the first command creates and migrates the store
  const r = await cli('users', 'list');
  expect(r.code).toBe(0);
});
afterAll(async () => {
  if (gw) {
    await gw.app.close();
    await gw.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis users', { timeout: 120_000 }, () => {
  it('creates users (password from an argument or stdin), with JSON or human output', async () => {
    const admin = await cliJson('users', 'create', '--email', 'root@example.com', '--password', 'root password 1', '--role', 'admin');
    expect(admin).toMatchObject({ email: 'root@example.com', role: 'admin', groups: [], disabled: false });
    expect(JSON.stringify(admin)).not.toMatch(/password/);

    const bob = await cliStdin('bob password 12\n', 'users', 'create', '--email', 'bob@example.com', '--password-stdin', '--groups', 'eng, ops', '--username', 'bob');
    expect(bob.code).toBe(0);
    expect(bob.stdout).toMatch(/^created user [0-9a-f-]{36}  bob@example\.com  role=user  groups=eng,ops/);

    const list = await cli('users', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+EMAIL\s+USERNAME\s+ROLE\s+GROUPS\s+DISABLED/);
    expect(list.stdout).toContain('bob@example.com');
    const json = await cliJson('users', 'list');
    expect(json.map((u: { email: string }) => u.email)).toEqual(['root@example.com', 'bob@example.com']);
  });

  it('refuses duplicates (exit 1) and invalid input (exit 2), naming the field', async () => {
    const dup = await cli('users', 'create', '--email', 'BOB@example.com', '--password', 'another password');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
    const bad = await cli('users', 'create', '--email', 'nope', '--password', 'short', '--role', 'boss');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/email: must be an email address/);
    expect(bad.stderr).toMatch(/password: must be at least 8 characters/);
    expect(bad.stderr).toMatch(/role: /);
    // invalid input exits 2 (docs/cli.md, "Exit codes")
    const both = await cli('users', 'create', '--email', 'x@example.com');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --password or --password-stdin');
    const j = await runCli(['--config', cfg, '--json', 'users', 'set-role', 'bob@example.com', 'king']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stderr)).toMatchObject({ error: { code: 'validation_failed', problems: [expect.stringMatching(/^role: /)] } });
    const missing = await cli('users', 'set-role', 'ghost@example.com', 'viewer');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No user ghost@example.com');
  });

  it('set-role, set-groups and disable/--enable by email, username or id; the last admin is protected', async () => {
    const v = await cliJson('users', 'set-role', 'bob', 'viewer');
    expect(v.role).toBe('viewer');
    const g = await cliJson('users', 'set-groups', v.id, 'a,b');
    expect(g.groups).toEqual(['a', 'b']);
    const none = await cliJson('users', 'set-groups', 'bob@example.com', '');
    expect(none.groups).toEqual([]);
    const d = await cli('users', 'disable', 'bob@example.com');
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^disabled .*\(disabled\)/);
    const e = await cliJson('users', 'disable', 'bob@example.com', '--enable');
    expect(e.disabled).toBe(false);

    const last = await runCli(['--config', cfg, '--json', 'users', 'disable', 'root@example.com']);
    expect(last.code).toBe(1);
    expect(JSON.parse(last.stderr).error.code).toBe('last_admin');
    const demote = await cli('users', 'set-role', 'root@example.com', 'user');
    expect(demote.code).toBe(1);
    expect(demote.stderr).toContain('last enabled admin');
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis tokens', { timeout: 120_000 }, () => {
  let tokenId: string;
  let secret: string;

  it('creates a token and prints the secret once', async () => {
    const r = await cliJson('tokens', 'create', '--user', 'bob@example.com', '--name', 'ci', '--scopes', 'mcp:execute,api:read', '--servers', 'demo', '--expires-in-days', '30', '--rate-limit-per-hour', '60');
    expect(r.token).toMatch(/^pcl_/);
    expect(r.api_token).toMatchObject({ name: 'ci', scopes: ['mcp:execute', 'api:read'], servers: ['demo'], rate_limit_per_hour: 60 });
    tokenId = r.api_token.id;
    secret = r.token;

    const human = await cli('tokens', 'create', '--user', 'root@example.com', '--name', 'ops', '--scopes', 'admin,api:write');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('token (shown only now');
    expect(human.stdout).toMatch(/\npcl_[A-Za-z0-9_-]{43}\n$/);

    const list = await cli('tokens', 'list');
    expect(list.stdout).toContain('ci');
    expect(list.stdout).not.toContain(secret);
    const bobs = await cliJson('tokens', 'list', '--user', 'bob@example.com');
    expect(bobs.map((t: { id: string }) => t.id)).toEqual([tokenId]);
    expect(JSON.stringify(bobs)).not.toContain(secret);
  });

  it('applies the same rules as the API', async () => {
    const admin = await runCli(['--config', cfg, '--json', 'tokens', 'create', '--user', 'bob@example.com', '--name', 'x', '--scopes', 'admin']);
    expect(admin.code).toBe(1);
    expect(JSON.parse(admin.stderr).error.code).toBe('scope_not_grantable');
    const bad = await cli('tokens', 'create', '--user', 'bob@example.com', '--name', 'x', '--expires-in-days', 'soon', '--scopes', 'mcp:all');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expires_in_days:');
    expect(bad.stderr).toContain('scopes[0]:');
  });

  it('a CLI-made user and token work against a gateway on the same store; revoke kills the token', async () => {
    gw = await startGateway(false);
    const login = await gw.app.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'bob@example.com', password: 'bob password 12' } });
    expect(login.statusCode).toBe(200);
    // the admin made by the CLI settled the bootstrap: a self-registration is a plain user
    const reg = await gw.app.http.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'late@example.com', password: 'late password 1' } });
    expect(reg.statusCode).toBe(201);
    expect(reg.json().user.role).toBe('user');
    const me = await gw.app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': secret } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ email: 'bob@example.com', auth: { method: 'api_token', token_id: tokenId, scopes: ['mcp:execute', 'api:read'] } });
    await gw.app.close();
    await gw.store.close();

    const r = await cli('tokens', 'revoke', tokenId);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`revoked API token ${tokenId}\n`);
    const again = await cli('tokens', 'revoke', tokenId);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('No such API token');

    gw = await startGateway(false);
    const dead = await gw.app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': secret } });
    expect(dead.statusCode).toBe(401);
    expect(dead.json().code).toBe('invalid_token');
    // audit events of the CLI are in the store, attributed to the cli
    const rows = await gw.store.db.kysely.selectFrom('audit_events').select(['action', 'actor', 'actor_type']).where('actor', '=', 'cli').execute();
    expect(new Set(rows.map((x) => x.action))).toEqual(new Set(['user.create', 'user.update', 'token.create', 'token.revoke']));
    expect(rows.every((x) => x.actor_type === 'system')).toBe(true);
    await gw.app.close();
    await gw.store.close();
    gw = undefined as never;
  });

  it('with redis configured, a CLI revoke reaches a running gateway on the next request', async () => {
    const made = await runCli(['--config', redisCfg, '--json', 'tokens', 'create', '--user', 'bob@example.com', '--name', 'live']);
    expect(made.code).toBe(0);
    const { token, api_token } = JSON.parse(made.stdout);
    gw = await startGateway(true);
    const ok = await gw.app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': token } });
    expect(ok.statusCode).toBe(200); // now cached in the gateway
    const r = await runCli(['--config', redisCfg, 'tokens', 'revoke', api_token.id]);
    expect(r.code).toBe(0);
    // the invalidation travels through Redis; allow it a moment to arrive
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      status = (await gw.app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': token } })).statusCode;
      if (status === 200) await new Promise((res) => setTimeout(res, 20));
    }
    expect(status).toBe(401);
    await gw.app.close();
    await gw.store.close();
    gw = undefined as never;
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis groups', { timeout: 120_000 }, () => {
  it('imports the seed format (YAML list) and ours (JSON object)', async () => {
    const seed = join(dir, 'seed.yaml');
    writeFileSync(
      seed,
      [
        '- scope_name: support',
        '  description: Support desk',
        '  servers:',
        '    - server_name: tickets',
        '      tools: ["*"]',
        '      access_level: read',
        '- scope_name: eng',
        '  servers:',
        '    - { server_name: demo, tools: [echo, "read_*"], access_level: execute }',
        '',
      ].join('\n'),
    );
    const r = await cli('groups', 'import', '--file', seed);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('imported 2 group(s)');
    expect(r.stdout).toContain('created support');

    const ours = join(dir, 'ours.json');
    writeFileSync(ours, JSON.stringify({ name: 'eng', description: 'Engineering', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }));
    const j = await runCli(['--config', cfg, '--json', 'groups', 'import', '--file', ours]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ created: [], updated: ['eng'], not_applicable: [] });

    const list = await cliJson('groups', 'list');
    expect(list.map((g: { name: string; source: string }) => [g.name, g.source])).toEqual([
      ['eng', 'api'],
      ['from-config', 'config'],
      ['support', 'api'],
    ]);
    expect(list.find((g: { name: string }) => g.name === 'support')).toMatchObject({ description: 'Support desk', grants: [{ server: 'tickets', tools: ['*'], access_level: 'read' }] });
    const human = await cli('groups', 'list');
    expect(human.stdout).toMatch(/^NAME\s+SOURCE\s+GRANTS\s+DESCRIPTION/);
    expect(human.stdout).toContain('demo:*:execute');
  });

  it('reports every problem with its path and writes nothing (exit 2)', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      ['- name: fresh', '- scope_name: broken', '  servers:', '    - { server_name: Demo, tools: [], access_level: admin }', '- name: from-config', ''].join('\n'),
    );
    const r = await cli('groups', 'import', '--file', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[1].servers[0].server_name:');
    expect(r.stderr).toContain('[1].servers[0].tools:');
    expect(r.stderr).toContain('[1].servers[0].access_level:');
    const ro = join(dir, 'ro.yaml');
    writeFileSync(ro, ['- name: fresh', '- name: from-config', ''].join('\n'));
    const r2 = await runCli(['--config', cfg, '--json', 'groups', 'import', '--file', ro]);
    expect(r2.code).toBe(2);
    expect(JSON.parse(r2.stderr).error.problems).toEqual(['[1].name: group from-config is defined in the config file (read-only)']);
    const names = (await cliJson('groups', 'list')).map((g: { name: string }) => g.name);
    expect(names).not.toContain('fresh');
    const missing = await cli('groups', 'import', '--file', join(dir, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
  });
});
