import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { createServiceAccountSchema, ServiceAccountService, updateServiceAccountSchema } from '../../auth/service-accounts.js';
import { GatewayError } from '../../errors/index.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const clientIdParam = (req: FastifyRequest) => (req.params as { client_id: string }).client_id;

/**
 * /api/v1/service-accounts — `service-accounts:write` for reads too (the list
 * is a map of machine credentials; http/access.ts). Secrets appear once, in the create and rotate-secret
 * responses, and never again.
 */
export async function serviceAccountRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const accounts = new ServiceAccountService({ store: s.store, bus: s.bus, audit: s.audit });
  const read = { onRequest: s.authenticate };
  const write = { onRequest: s.authenticate };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);
  const secretHeaders = { 'Cache-Control': 'no-store' };
  /** Path ids are client_ids only (the CLI also accepts names). */
  const byId = (req: FastifyRequest) => {
    const id = clientIdParam(req);
    if (!/^sa_[0-9a-f]{24}$/.test(id)) throw new GatewayError('not_found', { detail: 'No such service account' });
    return id;
  };

  app.get('/api/v1/service-accounts', read, async () => ({ service_accounts: await accounts.list() }));

  app.get('/api/v1/service-accounts/:client_id', read, async (req) => accounts.get(byId(req)));

  app.post('/api/v1/service-accounts', write, async (req, reply) => {
    const b = parseBody(createServiceAccountSchema, req.body);
    const { account, clientSecret } = await accounts.create(caller(req), b);
    return reply.code(201).headers(secretHeaders).send({ ...account, client_secret: clientSecret });
  });

  app.put('/api/v1/service-accounts/:client_id', write, async (req) => {
    const id = byId(req);
    const b = parseBody(updateServiceAccountSchema, req.body);
    return accounts.update(caller(req), id, b);
  });

  app.delete('/api/v1/service-accounts/:client_id', write, async (req, reply) => {
    await accounts.delete(caller(req), byId(req));
    return reply.code(204).send();
  });

  app.post('/api/v1/service-accounts/:client_id/rotate-secret', write, async (req, reply) => {
    const { account, clientSecret } = await accounts.rotateSecret(caller(req), byId(req));
    return reply.code(200).headers(secretHeaders).send({ ...account, client_secret: clientSecret });
  });
}
