import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';

/** A named readiness probe; throws (or rejects) when the dependency is not usable. */
export type ReadinessCheck = (() => Promise<void>) & { checkName?: string };

/** Each dependency probe gets this long before it counts as failing. */
const CHECK_TIMEOUT_MS = 2_000;

async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Liveness and readiness.
 *
 * `/healthz` answers 200 while the process serves HTTP at all (restart it when
 * it does not). `/readyz` answers 200 only when the store and (if configured)
 * Redis answer and the replica is not shutting down; otherwise 503 with the
 * failing checks named — never an internal error message. Other features add
 * probes to `readinessChecks` (name them via `checkName`).
 */
export async function healthRoutes(app: FastifyInstance, s: Services, readinessChecks: ReadinessCheck[]): Promise<void> {
  app.get('/healthz', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });
  app.get('/readyz', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    if (s.lifecycle.shuttingDown) return reply.code(503).send({ status: 'shutting_down', checks: {} });
    const probes: [string, () => Promise<void>][] = [['store', () => s.store.ping()]];
    if (s.redis) {
      const redis = s.redis;
      probes.push(['redis', () => redis.ping()]);
    }
    readinessChecks.forEach((c, i) => probes.push([c.checkName ?? `check_${i}`, c]));
    const results = await Promise.all(
      probes.map(async ([name, probe]) => {
        try {
          await within(probe(), CHECK_TIMEOUT_MS);
          return [name, 'ok'] as const;
        } catch {
          return [name, 'unavailable'] as const;
        }
      }),
    );
    const checks = Object.fromEntries(results);
    const ok = results.every(([, v]) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
}
