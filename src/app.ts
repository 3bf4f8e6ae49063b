/**
 * buildApp(deps): wires services and routes. No env, no globals: what tests build.
 */
import { type FastifyInstance } from 'fastify';
import { Authenticator } from './auth/authenticate.js';
import { IdentityCache } from './auth/identity-cache.js';
import { RoleCatalog } from './auth/roles.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { SessionService } from './auth/sessions.js';
import { SessionRetention } from './auth/session-retention.js';
import { ServiceAccountDirectory } from './auth/service-accounts.js';
import { Signer } from './auth/signing.js';
import { UsageRecorder } from './auth/usage.js';
import { buildExternalVerifiers } from './auth/providers/index.js';
import { AuditLog } from './audit/audit-log.js';
import { type Config } from './config/index.js';
import { type Bus } from './lib/bus.js';
import { openCluster, type RedisConnections } from './cluster/index.js';
import { Lifecycle } from './http/lifecycle.js';
import { createHttpServer } from './http/server.js';
import { httpsOptions, installTlsHooks, type TlsServer } from './http/tls.js';
import { createLogger, type Logger } from './lib/logger.js';
import { makeAuthenticate } from './http/middleware/authenticate.js';
import { registerRoutes } from './http/routes/index.js';
import { makeClientIpResolver, makeTrustFn } from './http/client-ip.js';
import { installRateLimits, rateLimitHooks, withRateLimits } from './http/middleware/rate-limit.js';
import { AuditRetention } from './audit/retention.js';
import { Metrics, instrumentAuthenticator } from './metrics/index.js';
import { memoryLimiterFactory, RateLimits, redisLimiterFactory, type LimiterFactory } from './ratelimit/index.js';
import { type Store } from './store/index.js';
import { type Services } from './http/services.js';
import { proxyLimits, ServerRegistry, UpstreamManager } from './proxy/index.js';
import { McpProxy } from './proxy/mcp-proxy.js';
import { SessionManager } from './proxy/sessions.js';
import { BrowserSessions } from './auth/browser-sessions.js';
import { OAuthAccessTokens, RevokedGrants } from './auth/oauth-access-tokens.js';
import { AuthorizationServer, loadEngine, loadKeys } from './oauth/index.js';
import { cookieValue } from './http/cookies.js';
import { renderAuthorizationErrorPage } from './http/routes/oauth-interaction.js';
import { CredentialService } from './proxy/user-credentials.js';
import { mcpResourceMetadataUrl } from './http/routes/protected-resource.js';

export interface AppDeps {
  config: Config;
  store: Store;
  logger?: Logger;
  bus?: Bus;
  /** Redis connections to share (tests); default: opened from config.redis when set. */
  redis?: RedisConnections;
  replicaId?: string;
  limiterFactory?: LimiterFactory;
  /** 0 disables the verified-token cache (benchmarks). */
  verifiedTokenCacheSize?: number;
}

export interface App {
  http: FastifyInstance;
  services: Services;
  close(): Promise<void>;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, store } = deps;
  const logger = deps.logger ?? createLogger(config.logging.level);
  // The authorization server's engine loads while the store and Redis are opened (AuthorizationServer.create awaits it).
  if (config.auth.authorization_server.enabled) void loadEngine(logger).catch(() => undefined);
  // The change feed carries invalidations through the store too: changes made by the CLI or by
  // replicas without a shared Redis reach this one within a second (cluster/change-feed.ts).
  const cluster = await openCluster(config, logger, { bus: deps.bus, redis: deps.redis, replicaId: deps.replicaId, store, feed: { poll: true } });
  const bus = cluster.bus;
  const lifecycle = new Lifecycle();
  // Rate limits and login throttling share one store: Redis when configured (all replicas), else memory.
  const limiterFactory = deps.limiterFactory ?? (cluster.redis ? redisLimiterFactory(cluster.redis.client, cluster.redis.keyPrefix) : memoryLimiterFactory);
  const metrics = new Metrics();
  const clientIp = makeClientIpResolver(config.server.trusted_proxies);
  const closers: (() => Promise<void> | void)[] = [];
  // First: refuse to start when stored per-user credentials cannot be decrypted (no key, or another key).
  const userCredentials = await CredentialService.create(config, store, bus, logger).catch(async (e: unknown) => {
    await cluster.close();
    throw e;
  });
  closers.push(() => userCredentials.close());

  await store.groups.syncFromConfig(config.groups);
  const signer = await Signer.create(config.auth.signing, (make) => store.settings.getOrInit('signing_hs256_secret', make));
  const tokenCacheSize = deps.verifiedTokenCacheSize ?? config.auth.token_cache_size;
  const cache = new IdentityCache(store, bus, { tokenCacheSize });
  await cache.warm(config.auth.access_token_ttl);
  const roles = new RoleCatalog(store, bus, config.roles);
  await roles.ready();
  closers.push(() => roles.close());
  const auth = new Authenticator(config, signer, cache, { verifiedCacheSize: tokenCacheSize });
  const external = await buildExternalVerifiers(config.auth.providers, {
    onKeyRotation: (provider) => logger.info({ provider }, 'jwt provider keys rotated; verified-token cache cleared'),
  });
  auth.useExternalVerifiers(external.verifiers);
  const serviceAccounts = new ServiceAccountDirectory(store, bus);
  auth.useServiceAccounts(serviceAccounts);
  closers.push(() => serviceAccounts.close());
  // Browser sessions (SPEC §11) and the authorization server's access tokens (§10).
  const oauthKeys = await loadKeys(store);
  const browserSessions = new BrowserSessions(store, cache, oauthKeys.csrfKey, {
    idleTimeoutMs: config.auth.browser_sessions.idle_timeout,
    maxAgeMs: config.auth.browser_sessions.max_age,
    secure: config.server.public_url.startsWith('https://'),
  });
  auth.useBrowserSessions(browserSessions);
  browserSessions.startHousekeeping((e) => logger.warn({ err: e }, 'could not delete ended browser sessions'));
  closers.push(() => browserSessions.close());
  let oauthTokens: OAuthAccessTokens | null = null;
  if (config.auth.authorization_server.enabled) {
    const revokedGrants = new RevokedGrants(store, bus, config.auth.access_token_ttl + 60_000);
    await revokedGrants.load();
    closers.push(() => revokedGrants.close());
    oauthTokens = await OAuthAccessTokens.create(oauthKeys.accessTokenSecret, config.server.public_url, revokedGrants);
    auth.useOAuthAccessTokens(oauthTokens);
  }
  instrumentAuthenticator(auth, metrics);
  closers.push(() => external.close());
  const throttle = new LoginThrottle(config.auth.login_throttle, limiterFactory, (e) => {
    metrics.rateLimitHit('login');
    auditLog.record({ action: 'rate_limit.hit', actorType: 'anonymous', ip: e.ip, status: 429, detail: { dimension: `login_${e.scope}`, retry_after_s: Math.max(1, Math.ceil(e.retryAfterMs / 1000)) } });
  });
  const sessions = new SessionService(config, store, signer, bus, throttle, auth.tokenIssuer, auth.tokenAudience);
  const usage = new UsageRecorder(store, 2_000, (e) => logger.error({ err: e }, 'failed to write token usage'));
  usage.start();
  const auditLog = new AuditLog(store, logger, {
    enabled: config.audit.enabled,
    stdout: config.audit.stdout,
    queueSize: config.audit.queue_size,
    flushIntervalMs: config.audit.flush_interval,
  });
  auditLog.onDrop = (n) => metrics.auditDropped.inc(n);
  auditLog.start();
  const auditRetention = new AuditRetention(store, config.audit.retention, logger);
  if (config.audit.enabled) auditRetention.start();
  const sessionRetention = new SessionRetention(store, cache, config.auth.access_token_ttl, logger);
  sessionRetention.start();
  closers.push(() => sessionRetention.close());
  const rateLimits = new RateLimits(config.rate_limits, limiterFactory, rateLimitHooks(auditLog, metrics, logger, (name) => !!services.registry.get(name)));

  const registry = await ServerRegistry.create(config, store, bus, logger);
  const services: Services = {
    config, store, logger, bus, replicaId: cluster.replicaId, redis: cluster.redis, lifecycle, signer, cache, roles, auth, sessions, usage, audit: auditLog, auditLog, limiterFactory,
    adminDeps: { store, bus, audit: auditLog, sessions, usage, roles },
    authenticate: withRateLimits(makeAuthenticate(auth, usage, browserSessions.cookieName), rateLimits, clientIp),
    metrics, rateLimits, clientIp, auditRetention,
    registry,
    upstreams: undefined as unknown as UpstreamManager,
    mcpSessions: undefined as unknown as SessionManager,
    mcpProxy: undefined as unknown as McpProxy,
    credentials: userCredentials,
    userCredentials,
    browserSessions,
    oauth: null,
    onClose: (fn) => closers.push(fn),
  };
  if (oauthTokens) {
    const oauth = await AuthorizationServer.create({
      config, store, bus, logger, audit: auditLog, registry: metrics.registry, keys: oauthKeys, accessTokens: oauthTokens,
      isServer: (name) => registry.get(name) !== undefined,
      signedInUser: async (cookieHeader) => (await browserSessions.resolve(cookieValue(cookieHeader, browserSessions.cookieName)))?.user.id ?? null,
      renderErrorPage: (e) => renderAuthorizationErrorPage(config, e),
    });
    closers.push(() => oauth.close());
    services.oauth = oauth;
  }
  services.upstreams = new UpstreamManager({
    registry,
    childBaseEnv: config.childBaseEnv,
    logger,
    credentials: () => services.credentials,
    limits: proxyLimits(config),
  });
  services.mcpSessions = new SessionManager(store, registry, services.upstreams, bus, cluster.replicaId, logger);
  closers.push(() => services.mcpSessions.close());
  services.mcpProxy = new McpProxy({
    registry,
    upstreams: services.upstreams,
    sessions: services.mcpSessions,
    groups: () => cache.groupMap(),
    audit: auditLog,
    usage,
    logger,
    resourceMetadataUrl: (server) => mcpResourceMetadataUrl(config.server.public_url, server),
    metrics,
  });

  const tls = config.server.tls;
  const http = createHttpServer({
    logger, bodyLimit: config.server.body_limit, timeouts: config.server.timeouts, https: tls ? httpsOptions(tls) : null,
    trustProxy: clientIp.trusted.size ? makeTrustFn(clientIp.trusted) : false,
  });
  if (tls) closers.push(installTlsHooks(http.server as unknown as TlsServer, tls, logger));
  lifecycle.track(http.server);
  installRateLimits(http, rateLimits, clientIp);
  await registerRoutes(http, services);

  return {
    http,
    services,
    async close() {
      // Bounded: open event streams are ended and stragglers cut at server.shutdown_timeout,
      // so closing never hangs on a client that keeps a stream open. main.ts drains first on SIGTERM.
      if (!services.lifecycle.shuttingDown) await services.lifecycle.drain(http.server, () => http.close(), config.server.shutdown_timeout);
      await services.upstreams.close();
      registry.close();
      for (const fn of closers.reverse()) await fn();
      await usage.close();
      await auditRetention.close();
      await auditLog.close();
      metrics.close();
      cache.close();
      await cluster.close();
    },
  };
}
export type { Services } from './http/services.js';
