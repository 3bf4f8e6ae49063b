import { type FastifyInstance } from 'fastify';
import { type Services } from '../../app.js';
import { authRoutes } from './auth.js';
import { healthRoutes } from './health.js';
import { wellKnownRoutes } from './well-known.js';

/** Every route group. Each feature adds its registration here. */
export async function registerRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const readinessChecks: (() => Promise<void>)[] = [];
  await healthRoutes(app, s, readinessChecks);
  await wellKnownRoutes(app, s);
  await authRoutes(app, s);
}
