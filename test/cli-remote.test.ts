/**
 * The real binary in both modes (SPEC §14): against a real gateway process
 * over /api/v1 (remote) and against its store (local), with the same output;
 * token files in both formats, login/logout, exit codes, a custom role, and
 * local changes reaching the running gateway through the change feed
 * (no Redis). Needs dist/ (`npm test` builds it first).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_COLUMNS } from '../src/cli/groups.js';
import { ROLE_COLUMNS } from '../src/cli/roles.js';
import { SERVER_COLUMNS } from '../src/cli/servers.js';
import { SERVICE_ACCOUNT_COLUMNS } from '../src/cli/service-accounts.js';
import { TOKEN_COLUMNS } from '../src/cli/tokens.js';
import { USER_COLUMNS } from '../src/cli/users.js';
import { type Column } from '../src/cli/output.js';
import { BIN, cleanEnv, freePort } from './helpers/binary.js';
import { api, startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';

const LONG = 240_000;
const PASSWORD = 'correct horse battery';

let cfg: ReturnType<typeof writeConfig>;
let gw: GatewayProcess;
let home: string;
let jwt: string;
let apiToken: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The binary with PATH/HOME only (plus `env`), stdin from `input`. */
async function run(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv({ XDG_CONFIG_HOME: home, ...opts.env }), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const local = (...args: string[]) => run(['--config', cfg.file, ...args]);
const remote = (...args: string[]) => run([...args, '--url', gw.url, '--token-file', join(home, 'jwt.json')]);
const json = (r: Run) => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'pcl-cli-remote-'));
  cfg = writeConfig({
    server: { host: '127.0.0.1', port: 0 },
    storage: { url: 'sqlite:./data/portcullis.db' },
    logging: { level: 'info' },
    servers: [{ name: 'files', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }],
    groups: [{ name: 'eng', description: 'Engineering', grants: [{ server: 'files', tools: ['*'], access_level: 'execute' }] }],
  });
  gw = await startGatewayProcess(cfg.file);
  const reg = await api(gw.url, 'POST', '/api/v1/auth/register', { body: { email: 'admin@example.com', password: PASSWORD } });
  expect(reg.status).toBe(201);
  jwt = reg.body.token;
  const t = await api(gw.url, 'POST', '/api/v1/auth/tokens', { token: jwt, body: { name: 'admin-cli' } });
  apiToken = t.body.token;
  writeFileSync(join(home, 'jwt.json'), JSON.stringify({ access_token: jwt }));
  writeFileSync(join(home, 'bare.token'), apiToken + '\n');
  writeFileSync(join(home, 'named.json'), JSON.stringify({ access_token: jwt, url: gw.url }));
  // some of everything, made with the local CLI on the gateway's store
  json(await run(['--config', cfg.file, '--json', 'users', 'create', '--email', 'bob@example.com', '--password-stdin', '--groups', 'eng', '--username', 'bob'], { input: 'bob password 12\n' }));
  json(await local('--json', 'service-accounts', 'create', '--name', 'ci-runner', '--groups', 'eng', '--description', 'CI'));
  json(await local('--json', 'tokens', 'create', '--user', 'bob', '--name', 'bob-laptop', '--scopes', 'mcp:execute,api:read', '--expires-in-days', '30'));
}, LONG);

afterAll(async () => {
  const code = await gw?.stop();
  cfg?.cleanup();
  rmSync(home, { recursive: true, force: true });
  expect(code).toBe(0);
});

/** Every key of every JSON object shown is a field of some column. */
function expectTableCovers<T>(columns: readonly Column<T>[], items: object[]): void {
  const fields = new Set(columns.flatMap((c) => c.fields));
  for (const item of items) expect(Object.keys(item).filter((k) => !fields.has(k))).toEqual([]);
}

describe('the same commands against the store and against the running gateway', () => {
  it(
    'give the same JSON and the same tables; tables show every field of the JSON',
    async () => {
      const lists: [string[], Column<never>[]][] = [
        [['users', 'list'], USER_COLUMNS as Column<never>[]],
        [['groups', 'list'], GROUP_COLUMNS as Column<never>[]],
        [['tokens', 'list'], TOKEN_COLUMNS as Column<never>[]],
        [['service-accounts', 'list'], SERVICE_ACCOUNT_COLUMNS as Column<never>[]],
        [['roles', 'list'], ROLE_COLUMNS as Column<never>[]],
      ];
      for (const [args, columns] of lists) {
        const [l, r] = await Promise.all([local('--json', ...args), remote('--json', ...args)]);
        expect(json(r), args.join(' ')).toEqual(json(l));
        expect(json(l).length, args.join(' ')).toBeGreaterThan(0);
        expectTableCovers(columns, json(l));
        const [lh, rh] = await Promise.all([local(...args), remote(...args)]);
        expect(rh.stdout, args.join(' ')).toBe(lh.stdout);
      }
      // owners by email, not id
      const tokens = await local('tokens', 'list');
      expect(tokens.stdout).toMatch(/bob-laptop\s+bob@example\.com/);
      // servers: the same definition; only the running gateway knows the status
      const [ls, rs] = await Promise.all([local('--json', 'servers', 'list'), remote('--json', 'servers', 'list')]);
      const strip = (list: { status: unknown }[]) => list.map(({ status: _s, ...rest }) => rest);
      expect(strip(json(rs))).toEqual(strip(json(ls)));
      expect(json(ls)[0].status).toBeNull();
      expect(json(rs)[0].status).toMatchObject({ state: expect.any(String) });
      expectTableCovers(SERVER_COLUMNS, json(rs));
    },
    LONG,
  );

  it(
    'token files in both formats, options before or after the command, or PORTCULLIS_URL / PORTCULLIS_TOKEN',
    async () => {
      const expected = json(await local('--json', 'users', 'list'));
      const runs = await Promise.all([
        run(['users', 'list', '--json', '--url', gw.url, '--token-file', join(home, 'bare.token')]),
        run(['--url', gw.url, '--token-file', join(home, 'jwt.json'), '--json', 'users', 'list']),
        run(['users', 'list', '--json', '--token-file', join(home, 'named.json')]),
        run(['--json', 'users', 'list'], { env: { PORTCULLIS_URL: gw.url, PORTCULLIS_TOKEN: apiToken } }),
      ]);
      for (const r of runs) expect(json(r)).toEqual(expected);
      for (const r of runs) expect(r.stdout + r.stderr).not.toContain(apiToken);
    },
    LONG,
  );

  it(
    'clear errors with documented exit codes; a token is never echoed',
    async () => {
      const bogus = 'pcl_' + 'x'.repeat(43);
      const unauth = await run(['users', 'list', '--url', gw.url], { env: { PORTCULLIS_TOKEN: bogus } });
      expect(unauth.code).toBe(3);
      expect(unauth.stderr).toMatch(/portcullis login --url/);
      expect(unauth.stderr + unauth.stdout).not.toContain(bogus);

      const bob = (await api(gw.url, 'POST', '/api/v1/auth/login', { body: { email: 'bob@example.com', password: 'bob password 12' } })).body.token;
      const forbidden = await run(['users', 'list', '--url', gw.url], { env: { PORTCULLIS_TOKEN: bob } });
      expect(forbidden.code).toBe(4);
      expect(forbidden.stderr).toContain('users:read');

      const missing = await remote('users', 'get', 'nobody@example.com');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('No user nobody@example.com');

      const invalid = await remote('--json', 'users', 'create', '--email', 'nope', '--password', 'short', '--role', 'wizard');
      expect(invalid.code).toBe(2);
      expect(JSON.parse(invalid.stderr).error.problems).toEqual([expect.stringMatching(/^email: /), expect.stringMatching(/^password: /), expect.stringMatching(/^role: no role named wizard/)]);

      const down = await run(['users', 'list', '--url', `http://127.0.0.1:${await freePort()}`], { env: { PORTCULLIS_TOKEN: apiToken } });
      expect(down.code).toBe(5);
      expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

      const elsewhere = await run(['users', 'list', '--url', 'http://127.0.0.1:9', '--token-file', join(home, 'named.json')]);
      expect(elsewhere.code).toBe(2);
      expect(elsewhere.stderr).toContain('it is not sent elsewhere');
      const both = await run(['users', 'list', '--url', gw.url, '--config', cfg.file]);
      expect(both.code).toBe(2);
      const usage = await run(['users', 'list', '--no-such-option']);
      expect(usage.code).toBe(2);
      const start = await local('servers', 'start', 'files');
      expect(start.code).toBe(2);
      expect(start.stderr).toContain('acts on a running gateway');
    },
    LONG,
  );

  it(
    'login writes a 0600 token file that later commands use; logout revokes it',
    async () => {
      const file = join(home, 'portcullis', 'token.json');
      const wrong = await run(['login', '--url', gw.url], { input: `admin@example.com\nwrong password\n` });
      expect(wrong.code).toBe(3);
      expect(existsSync(file)).toBe(false);
      const provider = await run(['login', '--url', gw.url, '--provider', 'corp']);
      expect(provider.code).toBe(2);
      expect(provider.stderr).toContain('not available in this version');

      const r = await run(['login', '--url', gw.url], { input: `admin@example.com\n${PASSWORD}\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`signed in to ${gw.url} as admin@example.com (role admin)`);
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      expect(saved).toMatchObject({ access_token: expect.any(String), refresh_token: expect.stringMatching(/^pcr_/), url: gw.url, email: 'admin@example.com' });
      expect(r.stdout).not.toContain(saved.access_token);

      // the default token file is used for the same URL
      const list = await run(['--json', 'users', 'list', '--url', gw.url]);
      expect(json(list).map((u: { email: string }) => u.email)).toContain('bob@example.com');

      const out = await run(['logout']);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toContain('the token is revoked');
      expect(existsSync(file)).toBe(false);
      const after = await run(['users', 'list', '--url', gw.url]);
      expect(after.code).toBe(3);
      // the session is gone: its refresh token is dead too
      const refreshed = await api(gw.url, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: saved.refresh_token } });
      expect(refreshed.status).toBe(401);
    },
    LONG,
  );

  it(
    'a developer role (audit:read + servers:operate) reads the audit and stops and starts a stdio server, but cannot list users',
    async () => {
      const role = await remote('--json', 'roles', 'create', 'developer', '--permissions', 'audit:read,servers:operate', '--description', 'audit and servers');
      expect(json(role)).toMatchObject({ name: 'developer', source: 'api', permissions: ['audit:read', 'servers:operate'] });
      const dev = await run(['users', 'create', '--email', 'dev@example.com', '--password-stdin', '--role', 'developer', '--url', gw.url, '--token-file', join(home, 'jwt.json')], {
        input: 'dev password 123\n',
      });
      expect(dev.code, dev.stderr).toBe(0);
      const devFile = join(home, 'dev.json');
      expect((await run(['login', '--url', gw.url, '--token-file', devFile, '--email', 'dev@example.com'], { input: 'dev password 123\n' })).code).toBe(0);
      const as = (...args: string[]) => run([...args, '--token-file', devFile]);

      const stop = await as('servers', 'stop', 'files');
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toBe('stopped files: stopped\n');
      const start = await as('servers', 'start', 'files');
      expect(start.code, start.stderr).toBe(0);
      const audit = await api(gw.url, 'GET', '/api/v1/audit?action=server.*', { token: JSON.parse(readFileSync(devFile, 'utf8')).access_token });
      expect(audit.status).toBe(200);
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['server.start', 'server.stop']));
      const users = await as('users', 'list');
      expect(users.code).toBe(4);
      expect(users.stderr).toContain('needs the users:read permission');
      const inUse = await remote('roles', 'delete', 'developer');
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toMatch(/held by 1 user/);
    },
    LONG,
  );

  it(
    'tokens revoke by prefix; a seed group file with create_in_idp imports, the key reported as not applicable',
    async () => {
      const made = json(await remote('--json', 'tokens', 'create', '--user', 'bob@example.com', '--name', 'by-prefix'));
      const r = await remote('tokens', 'revoke', `${made.api_token.prefix}…`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`revoked API token ${made.api_token.id}\n`);

      const seed = join(home, 'seed.json');
      writeFileSync(
        seed,
        JSON.stringify({ scope_name: 'public-mcp-users', description: 'Users with access to public MCP servers', servers: [{ server_name: 'files', tools: ['*'], access_level: 'execute' }], create_in_idp: true }),
      );
      for (const imp of [await remote('groups', 'import', '--file', seed), await local('groups', 'import', '--file', seed)]) {
        expect(imp.code, imp.stderr).toBe(0);
        expect(imp.stderr).toMatch(/^notice: create_in_idp: not applicable: /m);
      }
      const j = json(await remote('--json', 'groups', 'import', '--file', seed));
      expect(j).toEqual({ created: [], updated: ['public-mcp-users'], not_applicable: [expect.stringMatching(/^create_in_idp: not applicable/)] });
    },
    LONG,
  );
});

describe('local changes reach the running gateway (no Redis) through the change feed', () => {
  it(
    'users disable on the store: the gateway refuses that user\'s next call within about a second',
    async () => {
      const made = json(await local('--json', 'tokens', 'create', '--user', 'bob', '--name', 'feed'));
      const call = () => api(gw.url, 'GET', '/api/v1/auth/me', { headers: { 'x-api-key': made.token } });
      expect((await call()).status).toBe(200); // cached by the gateway now
      const r = await local('users', 'disable', 'bob@example.com');
      expect(r.code, r.stderr).toBe(0);
      // a gateway reads the feed: no notice
      expect(r.stderr).toBe('');
      const t0 = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - t0 < 5_000) {
        status = (await call()).status;
        if (status === 200) await new Promise((res) => setTimeout(res, 25));
      }
      expect(status).toBe(401);
      // the feed is polled once a second; the rest is scheduling slack on a shared machine
      expect(Date.now() - t0).toBeLessThan(2_500);
      expect((await local('users', 'disable', 'bob@example.com', '--enable')).code).toBe(0);
    },
    LONG,
  );

  it(
    'a local change with no gateway reading the store says so',
    async () => {
      const other = writeConfig({ storage: { url: 'sqlite:./data/other.db' }, logging: { level: 'silent' } });
      try {
        const r = await run(['--config', other.file, 'users', 'create', '--email', 'x@example.com', '--password', 'x password 1']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/^notice: no running gateway reads the change feed of sqlite:/m);
      } finally {
        other.cleanup();
      }
    },
    LONG,
  );
});

it('--version prints the package version', async () => {
  const r = await run(['--version']);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
});

describe('an expired access token in a login file', () => {
  let short: ReturnType<typeof writeConfig>;
  let g: GatewayProcess;
  beforeAll(async () => {
    short = writeConfig({ server: { host: '127.0.0.1', port: 0 }, storage: { url: 'sqlite:./data/short.db' }, logging: { level: 'info' }, auth: { access_token_ttl: '1s' } });
    g = await startGatewayProcess(short.file);
    expect((await api(g.url, 'POST', '/api/v1/auth/register', { body: { email: 'admin@example.com', password: PASSWORD } })).status).toBe(201);
  }, LONG);
  afterAll(async () => {
    await g?.stop();
    short?.cleanup();
  });

  it(
    'is renewed with the refresh token and the file rewritten (still mode 0600)',
    async () => {
      const file = join(home, 'short.json');
      expect((await run(['login', '--url', g.url, '--token-file', file], { input: `admin@example.com\n${PASSWORD}\n` })).code).toBe(0);
      const before = JSON.parse(readFileSync(file, 'utf8'));
      // wait until the gateway calls the access token expired (TTL 1 s plus its clock-skew allowance)
      const t0 = Date.now();
      while ((await api(g.url, 'GET', '/api/v1/auth/me', { token: before.access_token })).body?.code !== 'token_expired') {
        expect(Date.now() - t0).toBeLessThan(30_000);
        await new Promise((r) => setTimeout(r, 250));
      }
      const r = await run(['--json', 'users', 'list', '--token-file', file]);
      expect(r.code, r.stderr).toBe(0);
      const after = JSON.parse(readFileSync(file, 'utf8'));
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(after.url).toBe(g.url);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    },
    LONG,
  );
});
