import { type FastifyInstance } from 'fastify';
import { type Services } from '../services.js';
import { auditRoutes } from './audit.js';
import { authRoutes } from './auth.js';
import { mcpRoutes } from './mcp.js';
import { metricsRoutes } from './metrics.js';
import { oauthRoutes } from './oauth.js';
import { serviceAccountRoutes } from './service-accounts.js';
import { groupRoutes } from './groups.js';
import { healthRoutes } from './health.js';
import { serverCredentialRoutes } from './server-credentials.js';
import { serverRoutes } from './servers.js';
import { tokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';
import { wellKnownRoutes } from './well-known.js';
import { roleRoutes } from './roles.js';
import { installAccessControl } from '../access.js';
import { assetRoutes } from './assets.js';
import { loginRoutes } from './login.js';
import { oauthAdminRoutes } from './oauth-admin.js';
import { oauthInteractionRoutes } from './oauth-interaction.js';
import { oauthProviderRoutes } from './oauth-provider.js';

/** Every route group. Each feature adds its registration here. */
export async function registerRoutes(app: FastifyInstance, s: Services): Promise<void> {
  // First: every /api/v1 route registered below gets its guard from the access table.
  installAccessControl(app, s.roles);
  const readinessChecks: (() => Promise<void>)[] = [];
  await healthRoutes(app, s, readinessChecks);
  await wellKnownRoutes(app, s);
  await authRoutes(app, s);
  await tokenRoutes(app, s);
  await userRoutes(app, s);
  await groupRoutes(app, s);
  await roleRoutes(app, s);
  await serviceAccountRoutes(app, s);
  await oauthRoutes(app, s);
  await oauthProviderRoutes(app, s);
  await oauthInteractionRoutes(app, s);
  await oauthAdminRoutes(app, s);
  await loginRoutes(app, s);
  await assetRoutes(app);
  await auditRoutes(app, s);
  await metricsRoutes(app, s);
  await serverRoutes(app, s);
  await serverCredentialRoutes(app, s);
  await mcpRoutes(app, s);
}
