import { type FastifyInstance } from 'fastify';
import { type Services } from '../../app.js';
import { authRoutes } from './auth.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import { groupRoutes } from './groups.js';
import { wellKnownRoutes } from './well-known.js';
import { tokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';

/** Every route group. Each feature adds its registration here. */
export async function registerRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const readinessChecks: (() => Promise<void>)[] = [];
  await healthRoutes(app, s, readinessChecks);
  await wellKnownRoutes(app, s);
  await authRoutes(app, s);
}
  await tokenRoutes(app, s);
  await userRoutes(app, s);
  await groupRoutes(app, s);
  await auditRoutes(app, s);
  await metricsRoutes(app, s);
