import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { createUserSchemaFor, updateUserSchemaFor, UserAdminService } from '../../auth/user-admin.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});

const idParam = (req: FastifyRequest) => (req.params as { id: string }).id;

/** /api/v1/users — user administration (users:read, users:write: http/access.ts). `{id}` in GET may also be an email or username. */
export async function userRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const users = new UserAdminService(s.adminDeps);
  const read = { onRequest: s.authenticate };
  const write = { onRequest: s.authenticate };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);

  app.get('/api/v1/users', read, async (req) => {
    const q = parseBody(listQuery, req.query ?? {});
    return { users: await users.list(q) };
  });

  app.get('/api/v1/users/:id', read, async (req) => users.get(idParam(req)));

  app.post('/api/v1/users', write, async (req, reply) => {
    const b = parseBody(createUserSchemaFor(await s.roles.names()), req.body);
    return reply.code(201).send(await users.create(caller(req), b));
  });

  app.put('/api/v1/users/:id', write, async (req) => {
    const b = parseBody(updateUserSchemaFor(await s.roles.names()), req.body);
    return users.update(caller(req), idParam(req), b);
  });

  app.delete('/api/v1/users/:id', write, async (req, reply) => {
    await users.delete(caller(req), idParam(req));
    return reply.code(204).send();
  });
}
