/**
 * Login input that is not a known account is never stored verbatim (SPEC
 * §15): a failed login names a known account by its id, and anything else
 * by `unknown:<keyed hash>`, in the stored audit, in the audit's stdout JSON
 * lines, in logs and in the login throttle's keys (which Redis stores). A
 * password typed into the email field is readable by no one.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { type RateLimiterAbstract } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOGIN_ACTOR_KEY_SETTING, unknownLoginActor } from '../../src/auth/login-actor.js';
import { memoryLimiterFactory, type LimiterFactory } from '../../src/ratelimit/index.js';
import { bearer, register, startTestApp, type TestApp } from '../helpers/app.js';
import { basicAuth, createServiceAccount, tokenRequest } from '../helpers/service-accounts.js';

/** A memory limiter factory that remembers every key a limiter was asked about. */
function recordingFactory(keys: string[]): LimiterFactory {
  return (o) => {
    const l = memoryLimiterFactory(o);
    return new Proxy(l, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || !['get', 'penalty', 'consume', 'delete', 'block'].includes(String(prop))) return v;
        return (key: string, ...rest: unknown[]) => {
          keys.push(`${o.keyPrefix}:${key}`);
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      },
    }) as RateLimiterAbstract;
  };
}

describe('security: login input that is not a known account is never stored verbatim', () => {
  let t: TestApp;
  let admin: { token: string; user: { id: string } };
  const stdout: string[] = [];
  const limiterKeys: string[] = [];
  /** Things clients typed that must appear nowhere. */
  const typed: string[] = [];
  const secretLike = () => {
    const s = `Pw-${randomBytes(12).toString('base64url')}`;
    typed.push(s);
    return s;
  };

  beforeAll(async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
    t = await startTestApp({
      config: { audit: { stdout: true }, auth: { login_throttle: { per_account: { requests: 3, per: '15m' }, per_ip: { requests: 1000, per: '15m' } } } },
      deps: { limiterFactory: recordingFactory(limiterKeys) },
    });
    admin = await register(t, 'admin@example.com');
  });
  afterAll(async () => {
    await t?.close();
    vi.restoreAllMocks();
  });

  const login = (payload: Record<string, string>, ip = '192.0.2.10') => t.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, payload });
  const audit = async (qs: string) => {
    const r = await t.inject({ method: 'GET', url: `/api/v1/audit${qs}`, headers: bearer(admin.token) });
    expect(r.statusCode, r.body).toBe(200);
    return r.json().events as { action: string; actor: string | null; actor_type: string; status: number; detail: Record<string, unknown> }[];
  };
  const expectedActor = async (input: string) => unknownLoginActor(Buffer.from((await t.store.settings.get(LOGIN_ACTOR_KEY_SETTING))!, 'base64url'), input);

  it('a password typed as the email of no account: 401 invalid_credentials, audited as unknown:<keyed hash>', async () => {
    const pw = secretLike();
    const r = await login({ email: pw, password: 'whatever-it-is' });
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_credentials');
    const [e] = await audit('?action=auth.login_failed&limit=1');
    expect(e).toMatchObject({ action: 'auth.login_failed', actor_type: 'anonymous', status: 401, detail: { code: 'invalid_credentials' } });
    expect(e.actor).toMatch(/^unknown:[0-9a-f]{32}$/);
    // keyed: the same input (as lower-cased for lookup) gives the same actor, under the stored secret
    expect(e.actor).toBe(await expectedActor(pw.toLowerCase()));
  });

  it('the same unknown name gives the same actor (repeated attempts stand out); another name another one', async () => {
    const name = secretLike();
    expect((await login({ username: name, password: 'first-attempt' })).statusCode).toBe(401);
    expect((await login({ username: name.toUpperCase(), password: 'second-attempt' })).statusCode).toBe(401);
    expect((await login({ username: secretLike(), password: 'third-attempt' })).statusCode).toBe(401);
    const [third, second, first] = await audit('?action=auth.login_failed&limit=3');
    expect(first.actor).toBe(second.actor);
    expect(third.actor).not.toBe(first.actor);
    // the actor is queryable like any other
    expect((await audit(`?actor=${encodeURIComponent(first.actor!)}`)).length).toBe(2);
  });

  it('a failed login for a known account records that account id (wrong password, disabled account)', async () => {
    const bob = await register(t, 'bob@example.com');
    expect((await login({ email: 'BOB@example.com', password: 'not-bobs-password' })).statusCode).toBe(401);
    let [e] = await audit('?action=auth.login_failed&limit=1');
    expect(e).toMatchObject({ actor: bob.user.id, actor_type: 'user', status: 401 });
    const off = await t.inject({ method: 'PUT', url: `/api/v1/users/${bob.user.id}`, headers: bearer(admin.token), payload: { disabled: true } });
    expect(off.statusCode).toBe(200);
    expect((await login({ email: 'bob@example.com', password: 'correct horse battery' })).statusCode).toBe(401);
    [e] = await audit('?action=auth.login_failed&limit=1');
    expect(e).toMatchObject({ actor: bob.user.id, actor_type: 'user', status: 401 });
  });

  it('throttled attempts on an unknown name are audited (429 login_throttled) under the same keyed actor', async () => {
    const name = secretLike();
    for (let i = 0; i < 3; i++) expect((await login({ email: name, password: `attempt-${i}` })).statusCode).toBe(401);
    const r = await login({ email: name, password: 'attempt-3' });
    expect(r.statusCode).toBe(429);
    expect(r.json().code).toBe('login_throttled');
    const events = await audit('?action=auth.login_failed&limit=4');
    expect(events[0]).toMatchObject({ status: 429, detail: { code: 'login_throttled' } });
    expect(new Set(events.map((e) => e.actor))).toEqual(new Set([await expectedActor(name.toLowerCase())]));
  });

  it('a client_id of no service account at /oauth/token is audited by its keyed hash; a known one by its id', async () => {
    const junk = secretLike();
    const r = await tokenRequest(t, { grant_type: 'client_credentials' }, basicAuth(junk, 'pcs_whatever'));
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
    let [e] = await audit('?action=oauth.token&limit=1');
    expect(e).toMatchObject({ actor: await expectedActor(junk), actor_type: 'anonymous', status: 401 });

    const sa = await createServiceAccount(t, admin.token, { name: 'robot' });
    const wrong = await tokenRequest(t, { grant_type: 'client_credentials' }, basicAuth(sa.client_id, 'pcs_wrong-secret'));
    expect(wrong.statusCode).toBe(401);
    [e] = await audit('?action=oauth.token&limit=1');
    expect(e).toMatchObject({ actor: `sa:${sa.client_id}`, actor_type: 'service_account', status: 401 });
  });

  it('nothing typed appears in any stored audit row, audit stdout line, log line or login-throttle key', async () => {
    expect(typed.length).toBe(5);
    await t.app.services.auditLog.flush();
    const rows = await sql<Record<string, unknown>>`SELECT * FROM audit_events`.execute(t.store.db.kysely);
    const stored = JSON.stringify(rows.rows);
    const lines = stdout.join('');
    expect(lines).toContain('"action":"auth.login_failed"');
    const logs = t.logs.join('');
    for (const s of typed) {
      for (const form of [s, s.toLowerCase()]) {
        expect(stored, 'audit rows').not.toContain(form);
        expect(lines, 'audit stdout').not.toContain(form);
        expect(logs, 'logs').not.toContain(form);
        expect(limiterKeys.join('\n'), 'throttle keys').not.toContain(form);
      }
    }
    expect(limiterKeys.some((k) => k.startsWith('login_acct:login:unknown:'))).toBe(true);
  });
});
