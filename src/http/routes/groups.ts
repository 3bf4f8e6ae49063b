import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { callerFromPrincipal } from '../../auth/admin.js';
import { createGroupSchema, GroupAdminService, GroupImportError, updateGroupSchema } from '../../auth/group-admin.js';
import { GatewayError } from '../../errors/index.js';
import { readGroupDocument } from '../../auth/group-import.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const nameParam = (req: FastifyRequest) => (req.params as { name: string }).name;

/** /api/v1/groups — groups and their grants (groups:read, groups:write: http/access.ts; config-file groups are read-only). */
export async function groupRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const groups = new GroupAdminService(s.adminDeps);
  const read = { onRequest: s.authenticate };
  const write = { onRequest: s.authenticate };
  const caller = (req: FastifyRequest) => callerFromPrincipal(principalOf(req), req.ip);

  app.get('/api/v1/groups', read, async () => ({ groups: await groups.list() }));

  app.get('/api/v1/groups/:name', read, async (req) => groups.get(nameParam(req)));

  app.post('/api/v1/groups', write, async (req, reply) => {
    const b = parseBody(createGroupSchema, req.body);
    return reply.code(201).send(await groups.create(caller(req), b));
  });

  // The body is a group document as `portcullis groups import` reads it: one group, a list, or {groups: [...]}, ours or the seed format.
  app.post('/api/v1/groups/import', write, async (req) => {
    try {
      const { groups: defs, notApplicable } = readGroupDocument(req.body);
      return { ...(await groups.import(caller(req), defs)), not_applicable: notApplicable };
    } catch (e) {
      if (!(e instanceof GroupImportError)) throw e;
      // `path: message` problems → 422 with every field, like any invalid body
      const errors = e.problems.map((p) => {
        const i = p.indexOf(': ');
        return i === -1 ? { field: '(body)', message: p } : { field: p.slice(0, i), message: p.slice(i + 2) };
      });
      throw new GatewayError('validation_failed', { detail: `Invalid ${errors[0].field}: ${errors[0].message}`, errors });
    }
  });
  app.put('/api/v1/groups/:name', write, async (req) => {
    const b = parseBody(updateGroupSchema, req.body);
    return groups.update(caller(req), nameParam(req), b);
  });

  app.delete('/api/v1/groups/:name', write, async (req, reply) => {
    await groups.delete(caller(req), nameParam(req));
    return reply.code(204).send();
  });
}
