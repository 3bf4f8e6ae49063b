/**
 * buildApp(deps): wires services and routes. No env, no globals: what tests build.
 */
import { type FastifyInstance } from 'fastify';
import { Authenticator } from './auth/authenticate.js';
import { IdentityCache } from './auth/identity-cache.js';
import { LoginThrottle, memoryLimiterFactory, type LimiterFactory } from './auth/login-throttle.js';
import { SessionService } from './auth/sessions.js';
import { Signer } from './auth/signing.js';
import { UsageRecorder } from './auth/usage.js';
import { AuditLog } from './audit/audit-log.js';
import { type AuditSink } from './audit/types.js';
import { type Config } from './config/index.js';
import { LocalBus, type Bus } from './lib/bus.js';
import { createHttpServer } from './http/server.js';
import { createLogger, type Logger } from './http/logger.js';
import { makeAuthenticate } from './http/middleware/authenticate.js';
import { registerRoutes } from './http/routes/index.js';
import { type Store } from './store/index.js';

export interface AppDeps {
  config: Config;
  store: Store;
  logger?: Logger;
  bus?: Bus;
  limiterFactory?: LimiterFactory;
  /** 0 disables the verified-token cache (benchmarks). */
  verifiedTokenCacheSize?: number;
}

/** Everything routes and commands need; built once per app. */
export interface Services {
  config: Config;
  store: Store;
  logger: Logger;
  bus: Bus;
  signer: Signer;
  cache: IdentityCache;
  auth: Authenticator;
  sessions: SessionService;
  usage: UsageRecorder;
  /** Non-blocking audit writer: record() never waits. */
  audit: AuditSink & { flush(): Promise<void> };
  auditLog: AuditLog;
  limiterFactory: LimiterFactory;
  authenticate: ReturnType<typeof makeAuthenticate>;
  /** Hooks run on close, last registered first. */
  onClose: (fn: () => Promise<void> | void) => void;
}

export interface App {
  http: FastifyInstance;
  services: Services;
  close(): Promise<void>;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, store } = deps;
  const logger = deps.logger ?? createLogger(config.logging.level);
  const bus = deps.bus ?? new LocalBus();
  const limiterFactory = deps.limiterFactory ?? memoryLimiterFactory;
  const closers: (() => Promise<void> | void)[] = [];

  await store.groups.syncFromConfig(config.groups);
  const signer = await Signer.create(config.auth.signing, (make) => store.settings.getOrInit('signing_hs256_secret', make));
  const tokenCacheSize = deps.verifiedTokenCacheSize ?? config.auth.token_cache_size;
  const cache = new IdentityCache(store, bus, { tokenCacheSize });
  await cache.warm(config.auth.access_token_ttl);
  const auth = new Authenticator(config, signer, cache, { verifiedCacheSize: tokenCacheSize });
  const throttle = new LoginThrottle(config.auth.login_throttle, limiterFactory);
  const sessions = new SessionService(config, store, signer, bus, throttle, auth.tokenIssuer, auth.tokenAudience);
  const usage = new UsageRecorder(store, 2_000, (e) => logger.error({ err: e }, 'failed to write token usage'));
  usage.start();
  const auditLog = new AuditLog(store, logger, {
    enabled: config.audit.enabled,
    stdout: config.audit.stdout,
    queueSize: config.audit.queue_size,
    flushIntervalMs: config.audit.flush_interval,
  });
  auditLog.start();

  const services: Services = {
    config, store, logger, bus, signer, cache, auth, sessions, usage, audit: auditLog, auditLog, limiterFactory,
    authenticate: makeAuthenticate(auth, usage),
    onClose: (fn) => closers.push(fn),
  };

  const http = createHttpServer({ logger, bodyLimit: config.server.body_limit });
  await registerRoutes(http, services);

  return {
    http,
    services,
    async close() {
      await http.close();
      for (const fn of closers.reverse()) await fn();
      await usage.close();
      await auditLog.close();
      cache.close();
    },
  };
}
