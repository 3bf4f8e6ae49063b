import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { ApiTokenService, createTokenSchema, patchTokenSchema } from '../../auth/api-tokens.js';
import { principalOf, requireAccess } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const listQuery = z.strictObject({
  user_id: z.string().min(1).max(200).optional(),
  all: z.enum(['true', 'false']).optional(),
});

const idParam = (req: FastifyRequest) => (req.params as { id: string }).id;

/** /api/v1/auth/tokens — API tokens of the caller (admins: of anybody). */
export async function tokenRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const tokens = new ApiTokenService({
    store: s.store,
    bus: s.bus,
    audit: s.audit,
    sessions: s.sessions,
    usage: s.usage,
    tokenDefaultRatePerHour: s.config.rate_limits.per_token?.default_per_hour ?? null,
  });
  const read = { onRequest: [s.authenticate, requireAccess('user', 'api:read')] };
  const write = { onRequest: [s.authenticate, requireAccess('user', 'api:write')] };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);

  app.post('/api/v1/auth/tokens', write, async (req, reply) => {
    const b = parseBody(createTokenSchema, req.body);
    const c = caller(req);
    return reply.code(201).send(await tokens.create(c, tokens.ownerOf(c), b));
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
