import { type FastifyInstance } from 'fastify';
import { type Services } from '../../app.js';

/** Liveness and readiness. Readiness checks every dependency added to `readinessChecks`. */
export async function healthRoutes(app: FastifyInstance, s: Services, readinessChecks: (() => Promise<void>)[]): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = true;
    try {
      await s.store.ping();
      checks.store = 'ok';
    } catch {
      checks.store = 'unreachable';
      ok = false;
    }
    for (const [i, c] of readinessChecks.entries()) {
      try {
        await c();
        checks[`check_${i}`] = 'ok';
      } catch {
        checks[`check_${i}`] = 'failing';
        ok = false;
      }
    }
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
}
