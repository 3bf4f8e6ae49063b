/**
 * The permission table (src/http/access.ts): every /api/v1 route has exactly
 * one entry, every entry is a route, and a route without one cannot be
 * registered. What each entry means is exercised in roles.test.ts and the
 * API tests; here: the table is complete and the guard comes from it.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAccessControl, registeredApiRoutes, ROUTE_ACCESS } from '../src/http/access.js';
import { PERMISSIONS } from '../src/auth/permissions.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';

describe('route → permission table', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { metrics: { require_auth: true } } });
  });
  afterAll(async () => t?.close());

  it('each /api/v1 route has exactly one entry, and each entry is a registered route', () => {
    const routes = registeredApiRoutes(t.app.http);
    expect(routes.length).toBeGreaterThan(40);
    // registered once each
    expect(new Set(routes).size).toBe(routes.length);
    expect([...routes].sort()).toEqual(Object.keys(ROUTE_ACCESS).sort());
  });

  it('every entry is public, self (own resources) or one permission of the list', () => {
    for (const [key, a] of Object.entries(ROUTE_ACCESS)) {
      expect(['public', 'self', 'permission'], key).toContain(a.kind);
      if (a.kind === 'permission') expect(PERMISSIONS, key).toContain(a.permission);
    }
    const publicRoutes = Object.entries(ROUTE_ACCESS).filter(([, a]) => a.kind === 'public').map(([k]) => k);
    expect(publicRoutes.sort()).toEqual(['POST /api/v1/auth/login', 'POST /api/v1/auth/refresh', 'POST /api/v1/auth/register']);
  });

  it('a route missing from the table is refused at registration', async () => {
    const app = Fastify();
    installAccessControl(app, t.app.services.roles);
    expect(() => app.get('/api/v1/forgotten', async () => ({}))).toThrow(/GET \/api\/v1\/forgotten has no entry in ROUTE_ACCESS/);
    await app.close();
  });

  it('the guard comes from the table: a plain user is refused every permission route, allowed the self ones', async () => {
    await register(t, 'admin@example.com');
    const plain = await register(t, 'plain@example.com');
    for (const [key, a] of Object.entries(ROUTE_ACCESS)) {
      if (a.kind !== 'permission') continue;
      const [method, path] = key.split(' ');
      const url = path.replace(':client_id', 'sa_000000000000000000000000').replace(/:[a-z_]+/g, 'x');
      const r = await t.inject({ method: method as 'GET', url, headers: bearer(plain.token), ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
      expect(r.statusCode, key).toBe(403);
      expect(r.json(), key).toMatchObject({ code: 'forbidden', detail: `This operation needs the ${a.permission} permission` });
    }
    expect((await t.inject({ method: 'GET', url: '/api/v1/auth/tokens', headers: bearer(plain.token) })).statusCode).toBe(200);
    // outside /api/v1 the same guard: metrics with require_auth needs servers:read
    expect((await t.inject({ method: 'GET', url: '/metrics', headers: bearer(plain.token) })).statusCode).toBe(403);
  });
});
