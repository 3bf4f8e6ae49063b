/**
 * Who may call each management route: ONE table, route → access. Every
 * `/api/v1` route has exactly one entry (a route without one cannot even be
 * registered: the app refuses to start), and the guard is attached from here,
 * so a route file cannot forget it or disagree with the docs.
 *
 * - `permission`: the caller's role must hold it (roles are permission sets,
 *   auth/permissions.ts); reads (GET) need the `api:read` scope, writes
 *   `api:write`, admin-level permissions also `admin`.
 * - `self`: any authenticated principal, acting on its own resources (its
 *   tokens, its profile, the servers its grants show); the service checks
 *   anything beyond that (e.g. tokens:manage-all for other people's tokens).
 * - `public`: no credentials (registration, login, refresh).
 */
import { type FastifyInstance, type RouteOptions } from 'fastify';
import { type Scope } from '../auth/principal.js';
import { type RoleCatalog } from '../auth/roles.js';
import { type Permission } from '../config/schema.js';
import { requirePermission, requireScope } from './middleware/authenticate.js';

export type RouteAccess = { kind: 'public' } | { kind: 'self'; scope: Scope | null } | { kind: 'permission'; permission: Permission };

const PUBLIC: RouteAccess = { kind: 'public' };
const self = (scope: Scope | null): RouteAccess => ({ kind: 'self', scope });
const needs = (permission: Permission): RouteAccess => ({ kind: 'permission', permission });

export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = Object.freeze({
  'POST /api/v1/auth/register': PUBLIC,
  'POST /api/v1/auth/login': PUBLIC,
  'POST /api/v1/auth/refresh': PUBLIC,
  'POST /api/v1/auth/logout': self(null),
  'GET /api/v1/auth/me': self(null),
  'POST /api/v1/auth/password': self(null),

  'POST /api/v1/auth/tokens': self('api:write'),
  'GET /api/v1/auth/tokens': self('api:read'),
  'POST /api/v1/auth/tokens/validate': self(null),
  'GET /api/v1/auth/tokens/:id': self('api:read'),
  'PATCH /api/v1/auth/tokens/:id': self('api:write'),
  'DELETE /api/v1/auth/tokens/:id': self('api:write'),
  'POST /api/v1/auth/tokens/:id/rotate': self('api:write'),

  // What the caller granted to OAuth clients (SPEC §10).
  'GET /api/v1/auth/authorizations': self('api:read'),
  'DELETE /api/v1/auth/authorizations/:id': self('api:write'),
  // Reads too: the list shows who holds access through which client.
  'GET /api/v1/oauth/clients': needs('oauth-clients:write'),
  'DELETE /api/v1/oauth/clients/:client_id': needs('oauth-clients:write'),

  'GET /api/v1/users': needs('users:read'),
  'GET /api/v1/users/:id': needs('users:read'),
  'POST /api/v1/users': needs('users:write'),
  'PUT /api/v1/users/:id': needs('users:write'),
  'DELETE /api/v1/users/:id': needs('users:write'),

  'GET /api/v1/roles': needs('users:read'),
  'GET /api/v1/roles/:name': needs('users:read'),
  'POST /api/v1/roles': needs('users:write'),
  'PUT /api/v1/roles/:name': needs('users:write'),
  'DELETE /api/v1/roles/:name': needs('users:write'),

  'GET /api/v1/groups': needs('groups:read'),
  'GET /api/v1/groups/:name': needs('groups:read'),
  'POST /api/v1/groups': needs('groups:write'),
  'POST /api/v1/groups/import': needs('groups:write'),
  'PUT /api/v1/groups/:name': needs('groups:write'),
  'DELETE /api/v1/groups/:name': needs('groups:write'),

  // Reads too: the list is a map of machine credentials.
  'GET /api/v1/service-accounts': needs('service-accounts:write'),
  'GET /api/v1/service-accounts/:client_id': needs('service-accounts:write'),
  'POST /api/v1/service-accounts': needs('service-accounts:write'),
  'PUT /api/v1/service-accounts/:client_id': needs('service-accounts:write'),
  'DELETE /api/v1/service-accounts/:client_id': needs('service-accounts:write'),
  'POST /api/v1/service-accounts/:client_id/rotate-secret': needs('service-accounts:write'),

  'GET /api/v1/audit': needs('audit:read'),

  // Everyone sees the servers their grants reach; servers:read shows every server with its definition.
  'GET /api/v1/servers': self('api:read'),
  'GET /api/v1/servers/:name': self('api:read'),
  'GET /api/v1/servers/:name/tools': self('api:read'),
  'POST /api/v1/servers': needs('servers:write'),
  'PUT /api/v1/servers/:name': needs('servers:write'),
  'DELETE /api/v1/servers/:name': needs('servers:write'),
  'POST /api/v1/servers/:name/start': needs('servers:operate'),
  'POST /api/v1/servers/:name/stop': needs('servers:operate'),
  'POST /api/v1/servers/:name/discover': needs('servers:operate'),
  'GET /api/v1/servers/:name/credentials': self('api:read'),
  'PUT /api/v1/servers/:name/credentials': self('api:write'),
  'DELETE /api/v1/servers/:name/credentials': self('api:write'),
});

const registered = new WeakMap<FastifyInstance, string[]>();

/** Route keys (`METHOD /path`) registered under /api/v1 on this app (tests compare them with the table). */
export const registeredApiRoutes = (app: FastifyInstance): readonly string[] => registered.get(app) ?? [];

export const routeKey = (method: string, url: string) => `${method === 'HEAD' ? 'GET' : method} ${url}`;

/**
 * Attach each /api/v1 route's guard from the table as it is registered (after
 * the route's own authentication step). Call before registering routes.
 */
export function installAccessControl(app: FastifyInstance, roles: RoleCatalog): void {
  const keys: string[] = [];
  registered.set(app, keys);
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/api/v1/') && route.url !== '/api/v1') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const access = methods.map((m) => {
      const key = routeKey(m, route.url);
      const a = ROUTE_ACCESS[key];
      if (!a) throw new Error(`${key} has no entry in ROUTE_ACCESS (src/http/access.ts); every /api/v1 route needs exactly one`);
      if (m !== 'HEAD') keys.push(key);
      return a;
    });
    const a = access[0];
    if (access.some((x) => x !== a)) throw new Error(`${route.url}: one route for several methods needs one access entry`);
    if (a.kind === 'public') return;
    const guard = a.kind === 'self' ? requireScope(a.scope) : requirePermission(roles, a.permission, !methods.every((m) => m === 'GET' || m === 'HEAD'));
    // After the route's own onRequest steps (authentication), before fastify reads a body.
    const steps = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...steps, guard];
  });
}
