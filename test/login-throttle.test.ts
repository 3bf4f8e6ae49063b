/**
 * Brute-force throttling of POST /api/v1/auth/login (per account and per IP)
 * and equal work for unknown users and wrong passwords.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

// Count argon2 verifications without changing them.
const argon2Calls = vi.hoisted(() => ({ verify: 0 }));
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const orig = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...orig,
    verify: (...args: Parameters<typeof orig.verify>) => {
      argon2Calls.verify++;
      return orig.verify(...args);
    },
  };
});

const { register, startTestApp } = await import('./helpers/app.js');
type TestApp = Awaited<ReturnType<typeof startTestApp>>;

const PASSWORD = 'correct horse battery';
const login = (t: TestApp, payload: Record<string, unknown>, ip = '192.0.2.10') =>
  t.inject({ method: 'POST', url: '/api/v1/auth/login', payload, remoteAddress: ip });

describe('login throttling per account', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { auth: { login_throttle: { per_account: { requests: 3, per: '1m' }, per_ip: { requests: 1000, per: '1m' } } } } });
    await register(t, 'victim@example.com', PASSWORD);
    await register(t, 'bystander@example.com', PASSWORD);
  });
  afterAll(async () => t?.close());

  it('after N failures the account gets 429 login_throttled with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await login(t, { email: 'victim@example.com', password: `wrong-${i}-password` }, `198.51.100.${i}`);
      expect(r.statusCode).toBe(401);
      expect(r.json().code).toBe('invalid_credentials');
    }
    const before = argon2Calls.verify;
    const blocked = await login(t, { email: 'VICTIM@example.com', password: PASSWORD }, '198.51.100.99');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(blocked.json()).toMatchObject({ status: 429, code: 'login_throttled' });
    const retry = Number(blocked.headers['retry-after']);
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    // a throttled attempt does not even check the password
    expect(argon2Calls.verify).toBe(before);
    expect(blocked.body).not.toContain('token');
  });

  it('other accounts are not affected', async () => {
    const r = await login(t, { email: 'bystander@example.com', password: PASSWORD });
    expect(r.statusCode).toBe(200);
  });

  it('a success resets the account counter', async () => {
    await register(t, 'resets@example.com', PASSWORD);
    for (let i = 0; i < 2; i++) expect((await login(t, { email: 'resets@example.com', password: 'nope-nope-nope' })).statusCode).toBe(401);
    expect((await login(t, { email: 'resets@example.com', password: PASSWORD })).statusCode).toBe(200);
    // without the reset this would be the 4th failure in the window
    for (let i = 0; i < 2; i++) expect((await login(t, { email: 'resets@example.com', password: 'nope-nope-nope' })).statusCode).toBe(401);
    expect((await login(t, { email: 'resets@example.com', password: PASSWORD })).statusCode).toBe(200);
  });

  it('unknown accounts are throttled too, case-insensitively', async () => {
    for (let i = 0; i < 3; i++) expect((await login(t, { email: 'ghost@example.com', password: 'whatever-pass' })).statusCode).toBe(401);
    const r = await login(t, { email: 'Ghost@Example.com', password: 'whatever-pass' });
    expect(r.statusCode).toBe(429);
    expect(r.json().code).toBe('login_throttled');
  });

  // Regression: the budget was keyed by the typed login string, so alternating
  // email and username gave an attacker twice the attempts on one account.
  it('email and username of one account share one budget', async () => {
    const reg = await t.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'dual@example.com', username: 'dual-name', password: PASSWORD } });
    expect(reg.statusCode).toBe(201);
    expect((await login(t, { email: 'dual@example.com', password: 'wrong-password-1' })).statusCode).toBe(401);
    expect((await login(t, { username: 'dual-name', password: 'wrong-password-2' })).statusCode).toBe(401);
    expect((await login(t, { email: 'dual@example.com', password: 'wrong-password-3' })).statusCode).toBe(401);
    const r = await login(t, { username: 'DUAL-NAME', password: PASSWORD });
    expect(r.statusCode).toBe(429);
    expect(r.json().code).toBe('login_throttled');
  });
});

describe('login throttling per IP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { auth: { login_throttle: { per_account: { requests: 100, per: '1m' }, per_ip: { requests: 4, per: '1m' } } } } });
    await register(t, 'real@example.com', PASSWORD);
  });
  afterAll(async () => t?.close());

  it('spraying many accounts from one address gets that address throttled', async () => {
    for (let i = 0; i < 4; i++) expect((await login(t, { email: `spray${i}@example.com`, password: 'guess-guess' }, '203.0.113.7')).statusCode).toBe(401);
    const r = await login(t, { email: 'real@example.com', password: PASSWORD }, '203.0.113.7');
    expect(r.statusCode).toBe(429);
    expect(r.json().code).toBe('login_throttled');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('another address can still log in', async () => {
    const r = await login(t, { email: 'real@example.com', password: PASSWORD }, '203.0.113.8');
    expect(r.statusCode).toBe(200);
  });
});

describe('unknown user and wrong password do the same work', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await register(t, 'known@example.com', PASSWORD);
    // warm the dummy hash so neither measured path pays for creating it
    await login(t, { email: 'warmup@example.com', password: 'whatever-pass' });
  });
  beforeEach(() => {
    argon2Calls.verify = 0;
  });
  afterAll(async () => t?.close());

  async function timed(payload: Record<string, unknown>) {
    const start = process.hrtime.bigint();
    const r = await login(t, payload, '192.0.2.50');
    return { r, ms: Number(process.hrtime.bigint() - start) / 1e6 };
  }

  it('an unknown user runs exactly one argon2 verification', async () => {
    const { r, ms } = await timed({ email: 'nobody@example.com', password: 'whatever-pass' });
    expect(r.statusCode).toBe(401);
    expect(argon2Calls.verify).toBe(1);
    expect(ms).toBeGreaterThan(2); // a real argon2id verification, not a shortcut
  });

  it('a wrong password runs exactly one argon2 verification', async () => {
    const { r, ms } = await timed({ email: 'known@example.com', password: 'whatever-pass' });
    expect(r.statusCode).toBe(401);
    expect(argon2Calls.verify).toBe(1);
    expect(ms).toBeGreaterThan(2);
  });

  it('an unknown username runs exactly one argon2 verification too', async () => {
    const { r } = await timed({ username: 'nobody', password: 'whatever-pass' });
    expect(r.statusCode).toBe(401);
    expect(argon2Calls.verify).toBe(1);
  });

  it('both answers are byte-identical', async () => {
    const a = await login(t, { email: 'nobody@example.com', password: 'whatever-pass' }, '192.0.2.51');
    const b = await login(t, { email: 'known@example.com', password: 'whatever-pass' }, '192.0.2.52');
    expect(a.body).toBe(b.body);
    expect(a.headers['www-authenticate']).toBe(b.headers['www-authenticate']);
  });
});
