/**
 * The local AdminClient: the configured store, the same administration
 * services the HTTP API uses, acting as the built-in `system` caller (full
 * rights; audit actor `cli`). Every change is published on the bus a gateway
 * uses: through Redis when configured, and always through the store's change
 * feed, which running gateways poll once a second.
 */
import { SYSTEM_CALLER, type AdminDeps, type SessionRevoker } from '../../auth/admin.js';
import { ApiTokenService, createTokenSchema } from '../../auth/api-tokens.js';
import { GroupAdminService } from '../../auth/group-admin.js';
import { readGroupDocument } from '../../auth/group-import.js';
import { createRoleSchema, RoleAdminService, updateRoleSchema } from '../../auth/role-admin.js';
import { RoleCatalog } from '../../auth/roles.js';
import { createServiceAccountSchema, ServiceAccountService, updateServiceAccountSchema } from '../../auth/service-accounts.js';
import { createUserSchemaFor, updateUserSchemaFor, UserAdminService } from '../../auth/user-admin.js';
import { AuditLog } from '../../audit/audit-log.js';
import { openCluster, type Cluster } from '../../cluster/open.js';
import { type Config } from '../../config/index.js';
import { GatewayError } from '../../errors/index.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { now } from '../../lib/time.js';
import { type ServerRegistry } from '../../proxy/index.js';
import { openStore, type Store } from '../../store/index.js';
import { parseBody } from '../../auth/validate.js';
import { usageError } from '../exit.js';
import { type AdminClient, type ServerView } from './admin-client.js';
import { type OAuthManagement } from '../../oauth/management.js';

const needsGateway = (what: string) =>
  usageError(`${what} acts on a running gateway: give --url (or PORTCULLIS_URL) and a token; the local store has no running servers`);

/** The same SessionService the gateway uses (it revokes refresh families and publishes `family` events). */
async function openSessions(config: Config, store: Store, bus: Cluster['bus']): Promise<SessionRevoker> {
  const [{ Signer }, { LoginThrottle }, { SessionService }] = await Promise.all([import('../../auth/signing.js'), import('../../auth/login-throttle.js'), import('../../auth/sessions.js')]);
  const signer = await Signer.create(config.auth.signing, (make) => store.settings.getOrInit('signing_hs256_secret', make));
  const issuer = config.server.public_url;
  return new SessionService(config, store, signer, bus, new LoginThrottle(config.auth.login_throttle), issuer, config.auth.audience ?? issuer);
}

export async function openLocalClient(config: Config): Promise<AdminClient> {
  const logger = createLogger(config.logging.level === 'silent' ? 'silent' : 'warn', process.stderr);
  const store = await openStore(config.storage.url, { poolSize: 2 });
  let cluster: Cluster | undefined;
  try {
    cluster = await openCluster(config, logger, { store, feed: { poll: false } });
    return await buildLocalClient(config, store, cluster, logger);
  } catch (e) {
    await cluster?.close();
    await store.close();
    throw e;
  }
}

async function buildLocalClient(config: Config, store: Store, cluster: Cluster, logger: Logger): Promise<AdminClient> {
  const bus = cluster.bus;
  const audit = new AuditLog(store, logger, {
    enabled: config.audit.enabled,
    stdout: false, // stdout carries the command's own output
    queueSize: config.audit.queue_size,
    flushIntervalMs: config.audit.flush_interval,
  });
  // Login sessions are only touched when a user is disabled: their modules (JWT signing) load then.
  let sessionService: Promise<SessionRevoker> | undefined;
  const sessions: SessionRevoker = {
    revokeAllSessions: async (userId) => (await (sessionService ??= openSessions(config, store, cluster.bus))).revokeAllSessions(userId),
  };
  const roles = new RoleCatalog(store, bus, config.roles);
  await roles.ready();
  const deps: AdminDeps = { store, bus, audit, sessions, roles };
  const c = SYSTEM_CALLER;
  const users = new UserAdminService(deps);
  const tokens = new ApiTokenService(deps);
  const groups = new GroupAdminService(deps);
  const accounts = new ServiceAccountService(deps);
  const roleAdmin = new RoleAdminService(deps);
  // The authorization server's modules load only for the oauth commands.
  let oauthManagement: Promise<OAuthManagement> | undefined;
  const oauth = () =>
    (oauthManagement ??= Promise.all([import('../../oauth/management.js'), import('../../oauth/revocation.js')]).then(
      ([m, r]) => new m.OAuthManagement(store, config, new r.GrantRevoker(store, bus, null), audit),
    ));
  let registry: ServerRegistry | undefined;
  // The proxy modules load only for the servers commands.
  const proxy = () => Promise.all([import('../../proxy/index.js'), import('../../proxy/server-view.js')]).then(([p, v]) => ({ ...p, ...v }));
  const servers = async () => (registry ??= await (await proxy()).ServerRegistry.create(config, store, bus, logger));
  const server = async (name: string) => {
    const r = await servers();
    const def = r.get(name);
    if (!def) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    return { r, def };
  };
  const view = async (r: ServerRegistry, name: string): Promise<ServerView> => {
    const { serverSummary, serverDefinition } = await proxy();
    const def = r.get(name)!;
    return { ...serverSummary(def, r.source(name)!, config.server.public_url), status: null, ...serverDefinition(def) };
  };

  const where = config.storage.url.startsWith('sqlite:') ? config.storage.url : 'the configured PostgreSQL store';
  return {
    mode: 'local',
    target: where,
    users: {
      list: () => users.list({ limit: 1000 }),
      get: (ref) => users.get(ref),
      create: async (body) => users.create(c, parseBody(createUserSchemaFor(await roles.names()), body)),
      update: async (id, body) => users.update(c, id, parseBody(updateUserSchemaFor(await roles.names()), body)),
      delete: (id) => users.delete(c, id),
    },
    tokens: {
      create: async (userId, body) => {
        const input = parseBody(createTokenSchema, body);
        if (userId === null) throw usageError('--user is required with the local store (the CLI itself holds no tokens)');
        return tokens.create(c, { type: 'user', id: userId }, input);
      },
      list: (userId) => tokens.list(c, userId === undefined ? { all: true } : { userId }),
      revoke: (id) => tokens.revoke(c, id),
    },
    groups: {
      list: () => groups.list(),
      import: async (doc) => {
        const { groups: defs, notApplicable } = readGroupDocument(doc);
        return { ...(await groups.import(c, defs)), not_applicable: notApplicable };
      },
    },
    serviceAccounts: {
      list: () => accounts.list(),
      get: (ref) => accounts.get(ref),
      create: async (body) => {
        const { account, clientSecret } = await accounts.create(c, parseBody(createServiceAccountSchema, body));
        return { ...account, client_secret: clientSecret };
      },
      update: (id, body) => accounts.update(c, id, parseBody(updateServiceAccountSchema, body)),
      delete: (id) => accounts.delete(c, id),
      rotateSecret: async (id) => {
        const { account, clientSecret } = await accounts.rotateSecret(c, id);
        return { ...account, client_secret: clientSecret };
      },
    },
    servers: {
      list: async () => {
        const r = await servers();
        return Promise.all(r.list().map((d) => view(r, d.name)));
      },
      get: async (name) => view((await server(name)).r, name),
      tools: async (name) => {
        // Discovery from here: remote servers must be reachable from this machine; stdio servers are spawned for it.
        const { r } = await server(name);
        const upstreams = new (await proxy()).UpstreamManager({ registry: r, childBaseEnv: config.childBaseEnv, logger, credentials: () => null });
        try {
          const catalog = await upstreams.discover(name, null);
          return { server: name, discovered_at: new Date(now()).toISOString(), tools: catalog.tools.map((t) => ({ ...t, access: 'execute' })) };
        } finally {
          await upstreams.close();
        }
      },
      start: async () => {
        throw needsGateway('servers start');
      },
      stop: async () => {
        throw needsGateway('servers stop');
      },
    },
    roles: {
      list: () => roleAdmin.list(),
      get: (name) => roleAdmin.get(name),
      create: async (body) => roleAdmin.create(c, parseBody(createRoleSchema, body)),
      update: async (name, body) => roleAdmin.update(c, name, parseBody(updateRoleSchema, body)),
      delete: (name) => roleAdmin.delete(c, name),
    },
    oauthClients: {
      list: async () => (await oauth()).listClients(),
      delete: async (clientId) => {
        await (await oauth()).deleteClient(c, clientId);
      },
    },
    async afterChange() {
      const feed = cluster.feed!;
      await feed.flushWrites();
      if (feed.writeFailures)
        return 'the change is saved, but it could not be announced in the store\'s change feed: a running gateway applies it when its caches expire or it restarts';
      if ((await feed.liveConsumers()).length === 0)
        return `no running gateway reads the change feed of ${where}: a gateway started later sees the change, one using another copy of the store never does`;
      return null;
    },
    async close() {
      registry?.close();
      roles.close();
      await audit.close();
      // Commands on one connection complete in order: once PING answers, every invalidation was published.
      await cluster.redis?.client.ping().catch(() => undefined);
      await cluster.close();
      await store.close();
    },
  };
}
