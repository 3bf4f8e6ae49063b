/**
 * Management of the authorization server (SPEC §10):
 *
 *   GET    /api/v1/auth/authorizations          everyone: the apps they connected
 *   DELETE /api/v1/auth/authorizations/{id}     everyone, own: its tokens and consent end
 *   GET    /api/v1/oauth/clients                oauth-clients:write
 *   DELETE /api/v1/oauth/clients/{client_id}    oauth-clients:write: every token of the client ends
 */
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { principalOf } from '../middleware/authenticate.js';

export async function oauthAdminRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const oauth = s.oauth;
  if (!oauth) return;
  const m = oauth.management;
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);
  // Guards come from the access table (http/access.ts).
  const authed = { onRequest: s.authenticate };
  const param = (req: FastifyRequest, name: string) => (req.params as Record<string, string>)[name];

  app.get('/api/v1/auth/authorizations', authed, async (req) => {
    const p = principalOf(req);
    return { authorizations: p.type === 'user' ? await m.listAuthorizations(p.id) : [] };
  });

  app.delete('/api/v1/auth/authorizations/:id', authed, async (req, reply) => {
    await m.deleteAuthorization(caller(req), param(req, 'id'));
    return reply.code(204).send();
  });

  app.get('/api/v1/oauth/clients', authed, async () => ({ clients: await m.listClients() }));

  app.delete('/api/v1/oauth/clients/:client_id', authed, async (req, reply) => {
    await m.deleteClient(caller(req), param(req, 'client_id'));
    return reply.code(204).send();
  });
}
