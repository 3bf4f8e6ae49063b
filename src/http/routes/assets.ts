import { type FastifyInstance } from 'fastify';
import { STYLESHEET, STYLESHEET_PATH } from '../pages/index.js';

/** The pages' static stylesheet (no inline styles anywhere). */
export async function assetRoutes(app: FastifyInstance): Promise<void> {
  app.get(STYLESHEET_PATH, async (_req, reply) => {
    reply.headers({ 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' });
    return STYLESHEET;
  });
}
