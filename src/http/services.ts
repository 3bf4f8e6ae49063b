/**
 * Services: everything the routes need, built once per app by app.ts
 * (buildApp). A file of its own so routes never import the composition root.
 */
import { type Authenticator } from '../auth/authenticate.js';
import { type AdminDeps } from '../auth/admin.js';
import { type BrowserSessions } from '../auth/browser-sessions.js';
import { type IdentityCache } from '../auth/identity-cache.js';
import { type RoleCatalog } from '../auth/roles.js';
import { type SessionService } from '../auth/sessions.js';
import { type Signer } from '../auth/signing.js';
import { type UsageRecorder } from '../auth/usage.js';
import { type AuditLog } from '../audit/audit-log.js';
import { type AuditRetention } from '../audit/retention.js';
import { type AuditSink } from '../audit/types.js';
import { type RedisConnections } from '../cluster/index.js';
import { type Config } from '../config/index.js';
import { type Bus } from '../lib/bus.js';
import { type Logger } from '../lib/logger.js';
import { type Metrics } from '../metrics/index.js';
import { type AuthorizationServer } from '../oauth/index.js';
import { type ServerRegistry, type UpstreamCredentials, type UpstreamManager } from '../proxy/index.js';
import { type McpProxy } from '../proxy/mcp-proxy.js';
import { type SessionManager } from '../proxy/sessions.js';
import { type CredentialService } from '../proxy/user-credentials.js';
import { type LimiterFactory, type RateLimits } from '../ratelimit/index.js';
import { type Store } from '../store/index.js';
import { type ClientIpResolver } from './client-ip.js';
import { type Lifecycle } from './lifecycle.js';
import { type makeAuthenticate } from './middleware/authenticate.js';

/** Everything routes and commands need; built once per app. */
export interface Services {
  config: Config;
  store: Store;
  logger: Logger;
  bus: Bus;
  /** This replica's id (Redis connection names, mcp_sessions.replica). */
  replicaId: string;
  /** Shared Redis connections when `redis` is configured (rate limits use `redis.client`). */
  redis: RedisConnections | null;
  /** Shutdown state and hooks (`lifecycle.onShutdown`), in-flight tracking. */
  lifecycle: Lifecycle;
  signer: Signer;
  cache: IdentityCache;
  /** Every role and its permissions; reloaded on `roles` events. */
  roles: RoleCatalog;
  /** What the administration services (users, groups, roles, tokens) are built with. */
  adminDeps: AdminDeps;
  auth: Authenticator;
  sessions: SessionService;
  usage: UsageRecorder;
  /** Non-blocking audit writer: record() never waits. */
  audit: AuditSink & { flush(): Promise<void> };
  auditLog: AuditLog;
  limiterFactory: LimiterFactory;
  authenticate: ReturnType<typeof makeAuthenticate>;
  /** Prometheus registry and series of this app (src/metrics). */
  metrics: Metrics;
  /** Request rate limits (rate_limits.*); the HTTP steps are in http/middleware/rate-limit.ts. */
  rateLimits: RateLimits;
  /** Client address of a request (X-Forwarded-For only from server.trusted_proxies). */
  clientIp: ClientIpResolver;
  auditRetention: AuditRetention;
  /** MCP servers: config file (read-only) plus runtime-defined ones. */
  registry: ServerRegistry;
  /** Upstream pools, stdio processes, status, start/stop, discovery. */
  upstreams: UpstreamManager;
  /** MCP sessions bound to their principals (any replica). */
  mcpSessions: SessionManager;
  /** The MCP endpoint's logic: authorize, forward, relay (behind POST|GET|DELETE /mcp/{server}). */
  mcpProxy: McpProxy;
  /** Per-user upstream credentials hook; installed by the credentials feature (null = none). */
  credentials: UpstreamCredentials | null;
  /** Per-user upstream credentials, encrypted at rest (the same object as `credentials`). */
  userCredentials: CredentialService;
  /** Browser sign-in sessions (pages, /oauth/authorize, /api/v1 with a CSRF token). */
  browserSessions: BrowserSessions;
  /** The OAuth 2.1 authorization server for MCP clients; null when `auth.authorization_server.enabled` is false. */
  oauth: AuthorizationServer | null;
  /** Hooks run on close, last registered first. */
  onClose: (fn: () => Promise<void> | void) => void;
}

