import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { createRoleSchema, RoleAdminService, updateRoleSchema } from '../../auth/role-admin.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const nameParam = (req: FastifyRequest) => (req.params as { name: string }).name;

/**
 * /api/v1/roles — built-in, config and custom roles (users:read to read,
 * users:write to change: http/access.ts). Built-in and config roles are
 * read-only; nobody creates or changes a role with permissions they lack.
 */
export async function roleRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const roles = new RoleAdminService(s.adminDeps);
  const authed = { onRequest: s.authenticate };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);
  app.get('/api/v1/roles', authed, async () => ({ roles: await roles.list() }));
  app.get('/api/v1/roles/:name', authed, async (req) => roles.get(nameParam(req)));
  app.post('/api/v1/roles', authed, async (req, reply) => {
    const b = parseBody(createRoleSchema, req.body);
    return reply.code(201).send(await roles.create(caller(req), b));
  });
  app.put('/api/v1/roles/:name', authed, async (req) => {
    const b = parseBody(updateRoleSchema, req.body);
    return roles.update(caller(req), nameParam(req), b);
  });
  app.delete('/api/v1/roles/:name', authed, async (req, reply) => {
    await roles.delete(caller(req), nameParam(req));
    return reply.code(204).send();
  });
}
