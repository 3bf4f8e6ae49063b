/**
 * A real `portcullis serve` run at debug level (with audit lines on stdout)
 * handles passwords, access, refresh and API tokens in every accepted and
 * refused place, and a store outage (5xx); its stdout/stderr hold none of them.
 * Plus: 5xx problem bodies never carry internal messages.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freePort, startServe, type ServeProcess } from './helpers/binary.js';
import { createPgDatabase, pgOutage, type TestDb } from './helpers/db.js';

const PASSWORD = 'Sup3r-secret-passw0rd-1f7c';
const NEW_PASSWORD = 'An0ther-secret-passw0rd-9ae2';
const WRONG_PASSWORD = 'Wr0ng-guess-passw0rd-55d1';
const GARBAGE_BEARER = 'not-a-real-token-but-still-secret-8c3e';

describe('a real gateway run logs no secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-logs-'));
  let db: TestDb;
  let dbName: string;
  let gw: ServeProcess;
  const secrets: string[] = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, GARBAGE_BEARER];
  let serverError: { status: number; body: string; type: string | null; retryAfter: string | null } | undefined;

  async function call(method: string, path: string, opts: { headers?: Record<string, string>; json?: unknown } = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    let r: Response;
    try {
      r = await fetch(gw.url + path, { method, headers, body: opts.json === undefined ? undefined : JSON.stringify(opts.json) });
    } catch (e) {
      // say whether the gateway itself went away, and what it last wrote
      const { exitCode, signalCode } = gw.child;
      throw new Error(`${method} ${path}: ${(e as Error).message} (${String((e as { cause?: unknown }).cause)}); gateway exit code ${exitCode}, signal ${signalCode}; its last output:\n${gw.output().slice(-4000)}`);
    }
    const text = await r.text();
    return { status: r.status, text, json: () => JSON.parse(text), headers: r.headers };
  }

  beforeAll(async () => {
    db = await createPgDatabase();
    dbName = new URL(db.url).pathname.slice(1);
    const port = await freePort();
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      [
        'server:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        'storage:',
        '  url: ${DB_URL}',
        'audit:',
        '  stdout: true',
        '  flush_interval: 100ms',
        'logging:',
        '  level: debug',
      ].join('\n'),
    );
    gw = await startServe({ args: ['--config', file], env: { DB_URL: db.url }, port });

    // register + login + refresh
    const reg = await call('POST', '/api/v1/auth/register', { json: { email: 'admin@example.com', password: PASSWORD } });
    expect(reg.status).toBe(201);
    secrets.push(reg.json().token, reg.json().refresh_token);
    const login = await call('POST', '/api/v1/auth/login', { json: { email: 'admin@example.com', password: PASSWORD } });
    expect(login.status).toBe(200);
    secrets.push(login.json().token, login.json().refresh_token);
    const refreshed = await call('POST', '/api/v1/auth/refresh', { json: { refresh_token: login.json().refresh_token } });
    expect(refreshed.status).toBe(200);
    const access: string = refreshed.json().token;
    secrets.push(access, refreshed.json().refresh_token);
    // reuse of the old refresh token: refused, family revoked
    const reuse = await call('POST', '/api/v1/auth/refresh', { json: { refresh_token: login.json().refresh_token } });
    expect(reuse.status).toBe(401);
    const session = await call('POST', '/api/v1/auth/login', { json: { username: 'admin@example.com', password: PASSWORD } });
    expect(session.status).toBe(200);
    const bearer: string = session.json().token;
    secrets.push(bearer, session.json().refresh_token);

    // an API token, used as Bearer and as X-API-Key, then rotated
    const created = await call('POST', '/api/v1/auth/tokens', { headers: { authorization: `Bearer ${bearer}` }, json: { name: 'ci' } });
    expect(created.status).toBe(201);
    const apiToken: string = created.json().token;
    secrets.push(apiToken);
    expect((await call('GET', '/api/v1/auth/me', { headers: { authorization: `Bearer ${apiToken}` } })).status).toBe(200);
    expect((await call('GET', '/api/v1/auth/me', { headers: { 'x-api-key': apiToken } })).status).toBe(200);
    expect((await call('GET', '/api/v1/auth/tokens', { headers: { 'x-api-key': apiToken } })).status).toBe(200);
    const rotated = await call('POST', `/api/v1/auth/tokens/${created.json().api_token.id}/rotate`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(rotated.status).toBe(200);
    secrets.push(rotated.json().token);
    expect((await call('GET', '/api/v1/auth/me', { headers: { 'x-api-key': apiToken } })).status).toBe(401);

    // credentials in the query string are refused
    const q1 = await call('GET', `/api/v1/auth/me?access_token=${encodeURIComponent(bearer)}`);
    expect(q1.status).toBe(401);
    expect(q1.json().code).toBe('credentials_in_query');
    const q2 = await call('GET', `/api/v1/auth/tokens?api_key=${encodeURIComponent(rotated.json().token)}`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(q2.status).toBe(401);
    expect((await call('GET', `/no/such/route?token=${encodeURIComponent(bearer)}`)).status).toBe(404);

    // refused credentials
    expect((await call('GET', '/api/v1/auth/me', { headers: { authorization: `Bearer ${GARBAGE_BEARER}` } })).status).toBe(401);
    expect((await call('GET', '/api/v1/auth/me', { headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } })).status).toBe(401);
    secrets.push(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
    const failed = await call('POST', '/api/v1/auth/login', { json: { email: 'admin@example.com', password: WRONG_PASSWORD } });
    expect(failed.status).toBe(401);
    expect((await call('POST', '/api/v1/auth/login', { json: { email: 'nobody@example.com', password: WRONG_PASSWORD } })).status).toBe(401);
    // a password in a body that fails validation
    expect((await call('POST', '/api/v1/auth/register', { json: { email: 'bad', password: NEW_PASSWORD } })).status).toBe(422);
    // a password change
    const changed = await call('POST', '/api/v1/auth/password', { headers: { authorization: `Bearer ${bearer}` }, json: { current_password: PASSWORD, new_password: NEW_PASSWORD } });
    expect(changed.status).toBe(204);
    expect((await call('POST', '/api/v1/auth/logout', { headers: { authorization: `Bearer ${bearer}` } })).status).toBe(204);

    // a store outage: the next login fails with a 5xx while carrying a password
    const restore = await pgOutage(dbName);
    const outage = await call('POST', '/api/v1/auth/login', { json: { email: 'admin@example.com', password: NEW_PASSWORD } });
    serverError = { status: outage.status, body: outage.text, type: outage.headers.get('content-type'), retryAfter: outage.headers.get('retry-after') };
    await restore();
    // let the audit queue flush to stdout before stopping
    await new Promise((r) => setTimeout(r, 300));
    await gw.stop();
  });

  afterAll(async () => {
    if (gw && gw.child.exitCode === null) await gw.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the run logged at debug level and wrote audit lines (the check below is not vacuous)', () => {
    const out = gw.output();
    expect(out).toMatch(/"level":20/);
    expect(out).toContain('auth.login_failed');
    expect(out).toContain('auth.register');
    expect(out.split('\n').length).toBeGreaterThan(20);
  });

  it('a store outage is a 503 problem (retry) with no internal message, and is logged', () => {
    expect(serverError?.status).toBe(503);
    expect(serverError?.retryAfter).toBe('1');
    expect(serverError?.type).toMatch(/^application\/problem\+json/);
    const body = JSON.parse(serverError!.body);
    expect(Object.keys(body).sort()).toEqual(['code', 'status', 'title', 'type']);
    expect(body.code).toBe('service_unavailable');
    expect(serverError!.body).not.toMatch(/database|connection|postgres|pcl_t_|accepting/i);
    expect(gw.output()).toMatch(/"level":50.*request failed/);
  });

  it('stdout and stderr contain none of the secrets used', () => {
    const out = gw.output();
    expect(secrets.length).toBeGreaterThanOrEqual(14);
    for (const s of secrets) {
      expect(out.includes(s), `secret ${s.slice(0, 6)}… leaked into the logs`).toBe(false);
      // nor a recognisable half of it
      expect(out.includes(s.slice(0, Math.ceil(s.length / 2))), `part of ${s.slice(0, 6)}… leaked into the logs`).toBe(false);
    }
  });

  it('no fastify deprecation warnings are printed', () => {
    expect(gw.output()).not.toMatch(/FSTDEP|DeprecationWarning/);
  });
});

describe('5xx bodies never echo internals (in-process)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.app.close();
    await t.db.drop();
  });

  it('a route that throws after the store was closed answers a bare internal_error', async () => {
    await t.store.close();
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'a@example.com', password: 'whatever-pass' } });
    expect(r.statusCode).toBe(500);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json()).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, code: 'internal_error' });
    // the cause went to the log instead
    expect(t.logs.join('')).toMatch(/"level":50.*request failed/);
  });
});
