import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { requirePermission } from '../middleware/authenticate.js';

/**
 * Prometheus text at `metrics.path` when `metrics.enabled`. With
 * `metrics.require_auth` the scraper must authenticate with a role holding
 * `servers:read` (admin, operator, viewer; an API token with `api:read` is the
 * usual choice).
 */
export async function metricsRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const cfg = s.config.metrics;
  if (!cfg.enabled) return;
  const onRequest = cfg.require_auth ? [s.authenticate, requirePermission(s.roles, 'servers:read', false)] : [];
  app.get(cfg.path, { onRequest }, async (_req: FastifyRequest, reply: FastifyReply) => {
    const { contentType, body } = await s.metrics.render();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
