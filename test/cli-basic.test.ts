/**
 * The real binary: init, check-config, migrate and a zero-config serve.
 * Needs dist/ (`npm test` builds it first).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, STARTER_CONFIG } from '../src/config/index.js';
import { freePort, runCli, startServe } from './helpers/binary.js';
import { createPgDatabase, PG_ADMIN_URL } from './helpers/db.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis init', { timeout: 120_000 }, () => {
  it('writes a commented starter config that loads cleanly', async () => {
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(dir, 'portcullis.yaml')}`);
    const text = readFileSync(join(dir, 'portcullis.yaml'), 'utf8');
    expect(text).toBe(STARTER_CONFIG);
    expect(text).toMatch(/^# /m);
    const c = loadConfig({ file: join(dir, 'portcullis.yaml'), env: {} });
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.storage.url).toBe(`sqlite:${join(dir, 'data', 'portcullis.db')}`);
  });

  it('refuses to overwrite without --force', async () => {
    const f = join(dir, 'keep.yaml');
    writeFileSync(f, 'server: { port: 1234 }\n');
    const r = await runCli(['init', '--file', f], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists; pass --force');
    expect(readFileSync(f, 'utf8')).toBe('server: { port: 1234 }\n');
    const forced = await runCli(['init', '--file', f, '--force', '--json'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ file: f });
    expect(readFileSync(f, 'utf8')).toBe(STARTER_CONFIG);
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis check-config', { timeout: 120_000 }, () => {
  it('prints a summary and exits 0 for a valid config (global --config)', async () => {
    const f = join(dir, 'ok.yaml');
    writeFileSync(f, 'server:\n  port: 9555\nservers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\ngroups:\n  - name: eng\n');
    const r = await runCli(['--config', f, 'check-config']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`config OK: ${f}`);
    expect(r.stdout).toContain('127.0.0.1:9555');
    expect(r.stdout).toContain('demo (remote)');
    expect(r.stdout).toContain('eng');
  });

  it('reads PORTCULLIS_CONFIG and reports every problem with its path, exit 1', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'server:\n  prot: 1\nservers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\n  - name: two\n    url: ftp://x/\nauth:\n  access_token_ttl: 1 hour\n');
    const r = await runCli(['check-config'], { env: { PORTCULLIS_CONFIG: f } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration (3 problems)');
    expect(r.stderr).toContain('  server.prot: unknown key');
    expect(r.stderr).toContain('  servers[1].url: must be an http(s) URL');
    expect(r.stderr).toContain('  auth.access_token_ttl: must be a duration');
    const j = await runCli(['check-config', '--json'], { env: { PORTCULLIS_CONFIG: f } });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ ok: false, problems: expect.arrayContaining(['servers[1].url: must be an http(s) URL']) });
  });

  it('names files the config references that do not exist', async () => {
    const f = join(dir, 'nokey.yaml');
    writeFileSync(f, 'auth:\n  signing:\n    algorithm: ES256\n    private_key_file: missing.pem\n');
    const r = await runCli(['--config', f, 'check-config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`auth.signing.private_key_file: file not found: ${join(dir, 'missing.pem')}`);
  });

  it('--json gives a machine summary without any secret', async () => {
    const f = join(dir, 'secrets.yaml');
    writeFileSync(
      f,
      [
        'storage:',
        '  url: postgres://app:${DB_PASSWORD}@127.0.0.1:5432/portcullis',
        'credentials:',
        '  encryption_key: ${ENC_KEY}',
        'servers:',
        '  - name: demo',
        '    url: http://127.0.0.1:3001/mcp',
        '    headers: { X-Upstream-Key: "${DEMO_KEY}" }',
        '  - name: files',
        '    command: node',
        '    env: { API_TOKEN: "${FILES_TOKEN}" }',
      ].join('\n'),
    );
    const secrets = { DB_PASSWORD: 'pg-pass-7d1e0c', ENC_KEY: 'ab'.repeat(32), DEMO_KEY: 'upstream-key-91f2', FILES_TOKEN: 'files-token-3a9b' };
    const r = await runCli(['--config', f, '--json', 'check-config'], { env: secrets });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ok).toBe(true);
    expect(s.storage).toEqual({ backend: 'postgres', url: 'postgres://app:***@127.0.0.1:5432/portcullis' });
    expect(s.servers).toEqual([
      { name: 'demo', kind: 'remote', transport: 'streamable-http' },
      { name: 'files', kind: 'stdio' },
    ]);
    for (const v of Object.values(secrets)) expect(r.stdout + r.stderr).not.toContain(v);
  });

  it('lists unsafe settings as warnings', async () => {
    const r = await runCli(['check-config'], { env: { PORTCULLIS_HOST: '0.0.0.0' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: server\.host is 0\.0\.0\.0 .*TLS is off/);
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis migrate', { timeout: 120_000 }, () => {
  it('applies migrations to an SQLite store once and then reports it up to date', async () => {
    const f = join(dir, 'mig.yaml');
    writeFileSync(f, 'storage:\n  url: sqlite:./mig/store.db\n');
    const first = await runCli(['--config', f, 'migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\) to sqlite:/);
    expect(first.stdout).toContain('0001_initial');
    expect(existsSync(join(dir, 'mig', 'store.db'))).toBe(true);
    const again = await runCli(['--config', f, '--json', 'migrate']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ storage: `sqlite:${join(dir, 'mig', 'store.db')}`, applied: [] });
  });

  it('applies migrations to PostgreSQL (PORTCULLIS_DATABASE_URL) without printing a password', async () => {
    const db = await createPgDatabase();
    try {
      const u = new URL(db.url);
      u.password = 'not-needed-trust-auth';
      const r = await runCli(['--json', 'migrate'], { env: { PORTCULLIS_DATABASE_URL: u.toString() } });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.applied).toContain('0001_initial');
      expect(r.stdout).not.toContain('not-needed-trust-auth');
      const again = await runCli(['--json', 'migrate'], { env: { PORTCULLIS_DATABASE_URL: db.url } });
      expect(JSON.parse(again.stdout).applied).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it('fails with exit 1 when the store is unreachable', async () => {
    const u = new URL(PG_ADMIN_URL);
    u.port = String(await freePort());
    const r = await runCli(['migrate'], { env: { PORTCULLIS_DATABASE_URL: u.toString() } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^portcullis: migration failed: /);
  });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis serve with no config', { timeout: 120_000 }, () => {
  it('starts on loopback with SQLite under ./data and a signing secret that persists across restarts', async () => {
    const cwd = mkdtempSync(join(dir, 'serve-'));
    const port = await freePort();
    const env = { PORTCULLIS_PORT: String(port) };
    const gw = await startServe({ cwd, env, port });
    let token: string;
    try {
      expect(gw.output()).not.toContain('WARNING');
      // an empty store: serve says how to make the first admin
      expect(gw.output()).toContain('No users yet. Register the first admin');
      expect(gw.output()).toContain(`curl -X POST http://127.0.0.1:${port}/api/v1/auth/register`);
      const reg = await fetch(`${gw.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@example.com', password: 'correct horse battery' }),
      });
      expect(reg.status).toBe(201);
      const body = (await reg.json()) as { token: string; user: { role: string } };
      expect(body.user.role).toBe('admin');
      token = body.token;
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    const dbFile = join(cwd, 'data', 'portcullis.db');
    expect(existsSync(dbFile)).toBe(true);
    const sqlite = new Database(dbFile, { readonly: true });
    const secret = sqlite.prepare("select value from settings where key = 'signing_hs256_secret'").get() as { value: string } | undefined;
    sqlite.close();
    expect(secret?.value.length).toBeGreaterThanOrEqual(32);

    const again = await startServe({ cwd, env, port });
    try {
      expect(again.output()).not.toContain('No users yet');
      const me = await fetch(`${again.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });

  it('prints a loud warning when it binds a non-loopback host without TLS', async () => {
    const cwd = mkdtempSync(join(dir, 'serve-'));
    const port = await freePort();
    // 0.0.0.0 is reachable at 127.0.0.1 too; the test only talks to loopback.
    const gw = await startServe({ cwd, env: { PORTCULLIS_PORT: String(port), PORTCULLIS_HOST: '0.0.0.0' }, port });
    try {
      expect(gw.output()).toMatch(/!!! WARNING: server\.host is 0\.0\.0\.0 .*TLS is off/);
    } finally {
      expect(await gw.stop()).toBe(0);
    }
  });
});
