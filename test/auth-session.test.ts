import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';

describe('sessions: register, login, refresh, logout', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('the first user becomes admin and later users get user', async () => {
    const a = await register(t, 'first@example.com');
    const b = await register(t, 'second@example.com');
    expect(a.user.role).toBe('admin');
    expect(b.user.role).toBe('user');
  });

  it('login answers unknown user and wrong password alike', async () => {
    const unknown = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'nobody@example.com', password: 'whatever-pass' } });
    const wrong = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'first@example.com', password: 'wrong-password' } });
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json().code).toBe('invalid_credentials');
    expect(wrong.json()).toEqual(unknown.json());
  });

  it('a used refresh token revokes its whole family', async () => {
    const login = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'second@example.com', password: 'correct horse battery' } });
    expect(login.statusCode).toBe(200);
    const first = login.json();
    const r1 = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: first.refresh_token } });
    expect(r1.statusCode).toBe(200);
    const second = r1.json();
    const reuse = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: first.refresh_token } });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('refresh_token_reused');
    // the family is dead: the rotated refresh token and its access token too
    const r2 = await t.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: second.refresh_token } });
    expect(r2.statusCode).toBe(401);
    const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(second.token) });
    expect(me.statusCode).toBe(401);
  });

  it('logout kills the access token on the next request', async () => {
    const login = (await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'first@example.com', password: 'correct horse battery' } })).json();
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(login.token) })).statusCode).toBe(200);
    expect((await t.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(login.token) })).statusCode).toBe(204);
    const after = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(login.token) });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('invalid_token');
  });
});
