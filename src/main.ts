/**
 * Composition root: loadConfig → openStore → buildApp → listen; signals.
 */
import { buildApp, type App, type AppDeps } from './app.js';
import { configNotices, configWarnings, type Config } from './config/index.js';
import { type Store } from './store/index.js';
import { createLogger, stdoutLogDestination, type Logger } from './lib/logger.js';
import { keepServingWhenStdoutCloses } from './lib/stdout.js';
import { migrate, openStore } from './store/index.js';

export interface RunningGateway {
  app: App;
  url: string;
  /** Probable mistakes in the config, checked against the store (also logged as warnings). */
  notices: string[];
  /** No user exists yet: how to make the first admin (null once there is one). */
  firstAdminHint: string | null;
  stop(): Promise<void>;
}

/** What the store knows beyond the config file, for the start-up notices. */
async function knownAtRuntime(app: App, store: Store) {
  const rows = await store.db.kysely.selectFrom('users').select('role').distinct().execute();
  return {
    servers: app.services.registry.list().map((d) => d.name),
    groups: (await store.groups.list()).map((g) => g.name),
    roles: (await app.services.roles.list()).map((r) => r.name),
    userRoles: rows.map((r) => r.role),
  };
}

function firstAdminHint(config: Config): string {
  const url = config.server.public_url;
  const cli = 'npx portcullis users create --email you@example.com --password-stdin --role admin' + (config.configFile ? ` --config ${config.configFile}` : '');
  if (config.auth.registration === 'closed') return `No users yet. Create the first admin with: ${cli}`;
  return [
    'No users yet. Register the first admin (the first account ever becomes admin):',
    `  curl -X POST ${url}/api/v1/auth/register -H 'Content-Type: application/json' -d '{"email":"you@example.com","password":"a long passphrase"}'`,
    `or from this machine: ${cli}`,
  ].join('\n');
}

export async function startGateway(config: Config, opts: { logger?: Logger; extra?: Partial<AppDeps> } = {}): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger(config.logging.level);
  const store = await openStore(config.storage.url, {
    poolSize: config.storage.pool_size,
    migrate: false,
    onConnectionError: (e) => logger.warn({ err: e }, 'store connection lost; the pool replaces it'),
  });
  let app: App;
  try {
    // Kysely's migrator holds a lock (an advisory lock on PostgreSQL): replicas starting together migrate once.
    const { applied } = await migrate(store.db);
    if (applied.length) logger.info({ applied }, 'database migrated');
    app = await buildApp({ config, store, logger, ...opts.extra });
  } catch (e) {
    await store.close();
    throw e;
  }
  let notices: string[];
  let hint: string | null;
  try {
    notices = configNotices(config, await knownAtRuntime(app, store));
    hint = (await store.users.count()) === 0 ? firstAdminHint(config) : null;
  } catch (e) {
    await app.close();
    await store.close();
    throw e;
  }
  for (const n of notices) logger.warn({ config_notice: true }, n);
  const address = await app.http.listen({ host: config.server.host, port: config.server.port });
  logger.info({ address, public_url: config.server.public_url, storage: config.storage.url.startsWith('sqlite:') ? 'sqlite' : 'postgres' }, 'portcullis listening');
  let stopping: Promise<void> | null = null;
  return {
    app,
    url: address,
    notices,
    firstAdminHint: hint,
    stop() {
      stopping ??= (async () => {
        // Drain HTTP within server.shutdown_timeout (readiness 503, no new
        // connections, in-flight requests finish, streams closed), then stop
        // upstreams and flush token usage and audit (app.close), then the store.
        const drained = await app.services.lifecycle.drain(app.http.server, () => app.http.close(), config.server.shutdown_timeout, (e) =>
          logger.error({ err: e }, 'shutdown hook failed'),
        );
        logger.info({ forced: drained.forced, streams_closed: drained.streamsClosed, duration_ms: drained.durationMs }, 'http drained');
        await app.close();
        await store.close();
      })();
      return stopping;
    },
  };
}

/** Run until SIGTERM or SIGINT (Ctrl-C); both drain, close, exit 0. */
export async function runUntilSignal(config: Config): Promise<void> {
  const logDestination = stdoutLogDestination();
  keepServingWhenStdoutCloses([logDestination]);
  const logger = createLogger(config.logging.level, logDestination);
  for (const w of configWarnings(config)) {
    process.stderr.write(`\n!!! WARNING: ${w}\n\n`);
    logger.warn({ unsafe_config: true }, w);
  }
  const gw = await startGateway(config, { logger });
  for (const n of gw.notices) process.stderr.write(`warning: ${n}\n`);
  if (gw.firstAdminHint) process.stderr.write(`\n${gw.firstAdminHint}\n\n`);
  const onSignal = (sig: string) => {
    logger.info({ signal: sig }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.server.shutdown_timeout + 5_000);
    force.unref();
    gw.stop().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (e) => {
        logger.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
