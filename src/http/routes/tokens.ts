import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { ApiTokenService, createTokenSchema, patchTokenSchema } from '../../auth/api-tokens.js';
import { GatewayError } from '../../errors/index.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const listQuery = z.strictObject({
  user_id: z.string().min(1).max(200).optional(),
  all: z.enum(['true', 'false']).optional(),
});

const idParam = (req: FastifyRequest) => (req.params as { id: string }).id;
const createBody = createTokenSchema.extend({ user_id: z.string().uuid('must be a user id').optional() });

/** /api/v1/auth/tokens — API tokens of the caller (admins: of anybody). */
export async function tokenRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const tokens = new ApiTokenService({ ...s.adminDeps, tokenDefaultRatePerHour: s.config.rate_limits.per_token?.default_per_hour ?? null });
  const read = { onRequest: s.authenticate };
  const write = { onRequest: s.authenticate };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);
  const userIdOf = async (id: string) => {
    const u = await s.store.users.byId(id.toLowerCase());
    if (!u) throw new GatewayError('validation_failed', { detail: 'Invalid user_id: no such user', errors: [{ field: 'user_id', message: 'no such user' }] });
    return u.id;
  };

  app.post('/api/v1/auth/tokens', write, async (req, reply) => {
    const { user_id, ...b } = parseBody(createBody, req.body);
    const c = caller(req);
    // user_id: a token for another user (tokens:manage-all, checked by the service)
    const owner = user_id === undefined ? tokens.ownerOf(c) : { type: 'user' as const, id: await userIdOf(user_id) };
    return reply.code(201).send(await tokens.create(c, owner, b));
  });

  app.get('/api/v1/auth/tokens', read, async (req) => {
    const q = parseBody(listQuery, req.query ?? {});
    return { tokens: await tokens.list(caller(req), { userId: q.user_id, all: q.all === 'true' }) };
  });

  // Any authenticated credential may ask what it is; no scope needed.
  app.post('/api/v1/auth/tokens/validate', { onRequest: s.authenticate }, async (req) => tokens.describe(principalOf(req)));

  app.get('/api/v1/auth/tokens/:id', read, async (req) => tokens.get(caller(req), idParam(req)));

  app.patch('/api/v1/auth/tokens/:id', write, async (req) => {
    const b = parseBody(patchTokenSchema, req.body);
    return tokens.update(caller(req), idParam(req), b);
  });

  app.delete('/api/v1/auth/tokens/:id', write, async (req, reply) => {
    await tokens.revoke(caller(req), idParam(req));
    return reply.code(204).send();
  });

  app.post('/api/v1/auth/tokens/:id/rotate', write, async (req) => tokens.rotate(caller(req), idParam(req)));
}
