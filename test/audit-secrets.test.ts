import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { tokenRequest } from './helpers/service-accounts.js';

/**
 * Audit never contains a secret: run a scenario that handles every kind of
 * secret the gateway sees (passwords right and wrong, access and refresh
 * tokens, API tokens created, used, rotated and revoked, service-account
 * secrets and their access tokens, a reused refresh token), then scan every
 * stored audit row, every audit line on stdout and every log line.
 */
describe('audit contains no secrets', () => {
  let t: TestApp;
  const stdout: string[] = [];
  const secrets = new Map<string, string>();
  const keep = (label: string, v: string | undefined) => {
    expect(v, label).toBeTruthy();
    secrets.set(label, v!);
  };

  beforeAll(async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
    t = await startTestApp({ config: { audit: { stdout: true } } });
  });
  afterAll(async () => {
    await t.close();
    vi.restoreAllMocks();
  });

  it('runs the scenario', async () => {
    const pw = (label: string) => {
      const p = `pw-${label}-${randomBytes(9).toString('base64url')}`;
      keep(`password ${label}`, p);
      return p;
    };
    const adminPw = pw('admin');
    const admin = await register(t, 'sec-admin@example.com', adminPw);
    keep('admin access token', admin.token);
    keep('admin refresh token', admin.refresh_token);
    const userPw = pw('user');
    const user = await register(t, 'sec-user@example.com', userPw);
    keep('user access token', user.token);

    // failed logins: wrong password for a real account and for an unknown one
    const wrong = pw('wrong');
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'sec-admin@example.com', password: wrong } })).statusCode).toBe(401);
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ghost@example.com', password: wrong } })).statusCode).toBe(401);
    const login = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'sec-user@example.com', password: userPw } });
    expect(login.statusCode).toBe(200);
    keep('login access token', login.json().token);
    keep('login refresh token', login.json().refresh_token);

    // refresh, then reuse of the old refresh token (family revoked)
    const refreshed = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: login.json().refresh_token } });
    expect(refreshed.statusCode).toBe(200);
    keep('refreshed access token', refreshed.json().token);
    keep('refreshed refresh token', refreshed.json().refresh_token);
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: login.json().refresh_token } })).statusCode).toBe(401);

    // API tokens: create, use (both headers), rotate, use, revoke, use again
    const created = await t.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: bearer(admin.token), payload: { name: 'ci', scopes: ['mcp:execute', 'api:read'] } });
    expect(created.statusCode).toBe(201);
    const tok = created.json();
    keep('api token', tok.token);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(tok.token) })).statusCode).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': tok.token } })).statusCode).toBe(200);
    const rotated = await t.inject({ method: 'POST', url: `/api/v1/auth/tokens/${tok.api_token.id}/rotate`, headers: bearer(admin.token) });
    expect(rotated.statusCode).toBe(200);
    keep('rotated api token', rotated.json().token);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(tok.token) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/auth/tokens/${tok.api_token.id}`, headers: bearer(admin.token) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(rotated.json().token) })).statusCode).toBe(401);

    // a credential-looking query parameter and a garbage bearer
    const queryToken = `pcl_${randomBytes(24).toString('base64url')}`;
    keep('query token', queryToken);
    expect((await t.inject({ method: 'GET', url: `/api/v1/auth/me?access_token=${queryToken}` })).statusCode).toBe(401);

    // password change
    const newPw = pw('new');
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/password', headers: bearer(user.token), payload: { current_password: userPw, new_password: newPw } })).statusCode).toBe(204);

    // users and groups changes
    const created2 = await t.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { email: 'made@example.com', password: pw('made') } });
    expect(created2.statusCode).toBe(201);
    expect((await t.inject({ method: 'POST', url: '/api/v1/groups', headers: bearer(admin.token), payload: { name: 'eng', grants: [] } })).statusCode).toBe(201);

    // service account: secret shown once, client_credentials grant
    const sa = await t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(admin.token), payload: { name: 'robot', groups: ['eng'] } });
    expect(sa.statusCode, sa.body).toBe(201);
    keep('client secret', sa.json().client_secret);
    const cc = await tokenRequest(t, { grant_type: 'client_credentials', client_id: sa.json().client_id, client_secret: sa.json().client_secret });
    expect(cc.statusCode, cc.body).toBe(200);
    keep('client_credentials access token', cc.json().access_token);
    const badCc = await tokenRequest(t, { grant_type: 'client_credentials', client_id: sa.json().client_id, client_secret: pw('sa-wrong') });
    expect(badCc.statusCode).toBe(401);
    const rot = await t.inject({ method: 'POST', url: `/api/v1/service-accounts/${sa.json().client_id}/rotate-secret`, headers: bearer(admin.token) });
    expect(rot.statusCode).toBe(200);
    keep('rotated client secret', rot.json().client_secret);

    // a runtime server whose URL and headers carry credentials
    const urlPw = `up-${randomBytes(9).toString('base64url')}`;
    const urlKey = `key-${randomBytes(9).toString('base64url')}`;
    const hdr = `hdr-${randomBytes(9).toString('base64url')}`;
    keep('upstream url password', urlPw);
    keep('upstream url api key', urlKey);
    keep('upstream header value', hdr);
    const srv = await t.inject({
      method: 'POST',
      url: '/api/v1/servers',
      headers: bearer(admin.token),
      payload: { name: 'remote-one', url: `http://robot:${urlPw}@127.0.0.1:9/mcp?api_key=${urlKey}`, headers: { 'X-Upstream-Key': hdr } },
    });
    expect(srv.statusCode, srv.body).toBe(201);
    const upd = await t.inject({
      method: 'PUT',
      url: '/api/v1/servers/remote-one',
      headers: bearer(admin.token),
      payload: { url: `http://robot:${urlPw}@127.0.0.1:9/mcp2?api_key=${urlKey}`, headers: { 'X-Upstream-Key': hdr } },
    });
    expect(upd.statusCode, upd.body).toBe(200);

    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(admin.token) })).statusCode).toBe(204);
    await t.app.services.audit.flush();
  });

  it('recorded the scenario (so the scan below has something to scan)', async () => {
    const actions = new Set((await t.store.audit.query({ limit: 1000 })).map((e) => e.action));
    for (const a of ['auth.register', 'auth.login', 'auth.login_failed', 'auth.refresh_reuse', 'auth.password_changed', 'auth.logout', 'token.create', 'token.rotate', 'token.revoke', 'user.create', 'group.create', 'service_account.create', 'service_account.rotate', 'server.create', 'server.update'])
      expect(actions, a).toContain(a);
    expect(stdout.join('').split('\n').filter((l) => l.startsWith('{"type":"audit"')).length).toBeGreaterThanOrEqual(15);
  });

  it('no stored audit column, stdout line or log line contains any of the secrets', async () => {
    const rows = await sql<Record<string, unknown>>`select * from audit_events`.execute(t.store.db.kysely);
    const stored = JSON.stringify(rows.rows);
    const lines = stdout.join('');
    const logs = t.logs.join('');
    expect(secrets.size).toBeGreaterThanOrEqual(15);
    for (const [label, secret] of secrets) {
      for (const [where, text] of [['audit rows', stored], ['stdout', lines], ['logs', logs]] as const) {
        expect(text.includes(secret), `${label} found in ${where}`).toBe(false);
        // no recognisable fragment either (a token cut in half is still a leak)
        expect(text.includes(secret.slice(-20)), `${label} (tail) found in ${where}`).toBe(false);
      }
    }
  });
});
