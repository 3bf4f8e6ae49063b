import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { type Principal } from '../../auth/principal.js';
import { isStdio, type ServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';
import { checkCredentialHeaders } from '../../proxy/user-credentials.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';
import { mayUse, visibleServer } from './servers.js';

/*
 * /api/v1/servers/{name}/credentials — the caller's own upstream credentials
 * for one server (docs/servers.md#per-user-upstream-credentials). Every
 * principal manages only its own; values are write-only (GET returns names).
 */

const body = z.strictObject({ headers: z.record(z.string(), z.string()) });

export async function serverCredentialRoutes(app: FastifyInstance, s: Services): Promise<void> {
  // Own credentials only; the scope each method needs is in http/access.ts.
  const authed = { onRequest: s.authenticate };

  /** The server, when the caller may use it (at least read through a grant, or admin). */
  async function usableServer(req: FastifyRequest): Promise<{ p: Principal; def: ServerDef }> {
    const p = principalOf(req);
    const def = await visibleServer(s, p, (req.params as { name: string }).name);
    if (!mayUse(p, await s.cache.groupMap(), def.name))
      throw new GatewayError('forbidden', { detail: `You have no access to MCP server ${def.name}, so you cannot store credentials for it` });
    return { p, def };
  }

  const view = (server: string, r: { names: string[]; createdAt: string | null; updatedAt: string | null }) => ({
    server,
    headers: r.names,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  });

  app.get('/api/v1/servers/:name/credentials', authed, async (req) => {
    const { p, def } = await usableServer(req);
    return view(def.name, await s.userCredentials.names(p.id, def.name));
  });

  app.put('/api/v1/servers/:name/credentials', authed, async (req, reply) => {
    const { p, def } = await usableServer(req);
    const b = parseBody(body, req.body);
    if (isStdio(def)) throw new GatewayError('conflict', { detail: `MCP server ${def.name} is a stdio server; it takes no per-user HTTP headers` });
    const errors = checkCredentialHeaders(b.headers, Object.keys(def.headers));
    if (errors.length) throw new GatewayError('validation_failed', { detail: `Invalid ${errors[0].field}: ${errors[0].message}`, errors });
    const { created } = await s.userCredentials.put(p.id, def.name, b.headers);
    s.audit.record({
      action: 'server.credentials',
      actor: p.id,
      actorType: p.type,
      tokenId: p.tokenId,
      server: def.name,
      ip: req.ip,
      status: created ? 201 : 200,
      // names only: values are secrets
      detail: { op: created ? 'create' : 'replace', headers: Object.keys(b.headers).sort() },
    });
    return reply.code(created ? 201 : 200).send(view(def.name, await s.userCredentials.names(p.id, def.name)));
  });

  // Deleting one's own secret needs no grant: someone who lost access can still clean up.
  app.delete('/api/v1/servers/:name/credentials', authed, async (req, reply) => {
    const p = principalOf(req);
    const name = (req.params as { name: string }).name;
    const removed = await s.userCredentials.delete(p.id, name);
    if (!removed) throw new GatewayError('not_found', { detail: `No credentials of yours are stored for MCP server ${name}` });
    s.audit.record({ action: 'server.credentials', actor: p.id, actorType: p.type, tokenId: p.tokenId, server: name, ip: req.ip, status: 204, detail: { op: 'delete' } });
    return reply.code(204).send();
  });
}
