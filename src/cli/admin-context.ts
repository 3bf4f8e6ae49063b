/**
 * What the local admin commands (users, tokens, groups) share: the configured
 * store, the same administration services the HTTP API uses, acting as the
 * `system` caller, and uniform error reporting.
 *
 * Cache invalidation: the services publish on the same bus a gateway uses.
 * With `redis` configured that is the Redis bus, so gateways already running
 * against the same store drop their cached users, tokens and groups at once.
 * Without Redis the bus is local to this CLI process: a running gateway keeps
 * its cached entries (users and tokens until evicted, groups until the next
 * `groups` event or restart). See docs/api.md, "CLI and a running gateway".
 */
import { type Command } from 'commander';
import { SYSTEM_CALLER, type AdminDeps, type Caller } from '../auth/admin.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { GroupAdminService, GroupImportError } from '../auth/group-admin.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import { SessionService } from '../auth/sessions.js';
import { ServiceAccountService } from '../auth/service-accounts.js';
import { Signer } from '../auth/signing.js';
import { UserAdminService } from '../auth/user-admin.js';
import { OAuthManagement } from '../oauth/management.js';
import { GrantRevoker } from '../oauth/revocation.js';
import { AuditLog } from '../audit/audit-log.js';
import { GatewayError } from '../errors/index.js';
import { createLogger } from '../lib/logger.js';
import { openCluster } from '../cluster/index.js';
import { type Store } from '../store/index.js';
import { type Config } from '../config/index.js';
import { describeError, withStore } from './common.js';

export interface AdminContext {
  store: Store;
  config: Config;
  caller: Caller;
  users: UserAdminService;
  tokens: ApiTokenService;
  groups: GroupAdminService;
  serviceAccounts: ServiceAccountService;
  /** OAuth clients and authorizations of the authorization server. */
  oauth: OAuthManagement;
}

/** Open the store, build the services, run `fn`, write audit events, close. Errors end the process. */
export async function withAdmin(cmd: Command, fn: (ctx: AdminContext) => Promise<void>): Promise<void> {
  try {
    await withStore(cmd, async (store, config) => {
      const logger = createLogger(config.logging.level === 'silent' ? 'silent' : 'warn', process.stderr);
      const cluster = await openCluster(config, logger);
      const bus = cluster.bus;
      const audit = new AuditLog(store, logger, {
        enabled: config.audit.enabled,
        stdout: false, // stdout carries the command's own output
        queueSize: config.audit.queue_size,
        flushIntervalMs: config.audit.flush_interval,
      });
      const signer = await Signer.create(config.auth.signing, (make) => store.settings.getOrInit('signing_hs256_secret', make));
      const issuer = config.server.public_url;
      const sessions = new SessionService(config, store, signer, bus, new LoginThrottle(config.auth.login_throttle), issuer, config.auth.audience ?? issuer);
      const deps: AdminDeps = { store, bus, audit, sessions };
      try {
        await fn({
          store,
          config,
          caller: SYSTEM_CALLER,
          users: new UserAdminService(deps),
          tokens: new ApiTokenService(deps),
          groups: new GroupAdminService(deps),
          serviceAccounts: new ServiceAccountService(deps),
          oauth: new OAuthManagement(store, config, new GrantRevoker(store, bus, null), audit),
        });
      } finally {
        await audit.close();
        // Commands on one connection complete in order: once PING answers, every invalidation was published.
        await cluster.redis?.client.ping().catch(() => undefined);
        await cluster.close();
      }
    });
  } catch (e) {
    reportError(cmd, e);
  }
}

/** Print an error (JSON on stderr with --json) and exit: 2 for invalid input, 1 otherwise. */
export function reportError(cmd: Command, e: unknown): never {
  const json = !!(cmd.optsWithGlobals() as { json?: boolean }).json;
  let code = 'error';
  let message = describeError(e);
  let problems: string[] = [];
  let exit = 1;
  if (e instanceof GatewayError) {
    code = e.code;
    message = e.status >= 500 ? 'internal error' : (e.detail ?? e.title);
    problems = (e.errors ?? []).map((f) => `${f.field}: ${f.message}`);
    if (e.code === 'validation_failed') exit = 2;
  } else if (e instanceof GroupImportError) {
    code = 'validation_failed';
    message = 'invalid group definitions';
    problems = e.problems;
    exit = 2;
  }
  if (json) process.stderr.write(JSON.stringify({ error: { code, message, problems } }) + '\n');
  else process.stderr.write(`portcullis: ${message}${problems.length ? '\n  ' + problems.join('\n  ') : ''}\n`);
  process.exit(exit);
}

/** `a,b, c` → ['a','b','c']; '' → []. */
export const commaList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** Plain-text table with padded columns. */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}
