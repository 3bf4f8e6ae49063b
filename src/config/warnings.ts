import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { type Config } from './load.js';
import { isStdio, ROLES } from './schema.js';

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Settings that are legal but unsafe outside a developer machine. `serve`
 * prints each one loudly at start; `check-config` lists them too.
 */
export function configWarnings(config: Config): string[] {
  const out: string[] = [];
  const exposed = !isLoopbackHost(config.server.host);
  if (exposed && !config.server.tls && !config.server.public_url.startsWith('https://')) {
    out.push(
      `server.host is ${config.server.host} (reachable from other machines) and TLS is off: passwords and tokens would cross the network in clear text. ` +
        'Configure server.tls, or put a TLS-terminating proxy in front and set server.public_url to its https:// URL.',
    );
  }
  if (exposed && config.auth.registration === 'open') {
    out.push(
      `auth.registration is open on a non-loopback host: anyone who reaches ${config.server.public_url} can create an account, and the first account ever becomes admin. ` +
        'Register your admin first, then set auth.registration to first-user-only or closed.',
    );
  }
  const as = config.auth.authorization_server;
  if (as.enabled && as.client_id_metadata_documents.enabled && as.client_id_metadata_documents.allow_loopback_http) {
    out.push(
      'auth.authorization_server.client_id_metadata_documents.allow_loopback_http is true: client metadata documents are also fetched from http://127.0.0.1 and http://localhost. ' +
        'Use it for development and tests only.',
    );
  }
  if (!config.auth.password_login) {
    out.push('auth.password_login is false and no login providers are configured: nobody can sign in through /login (the OAuth authorization server cannot be used).');
  }
  return out;
}

/** Secrets shorter than this are guessable; say so at start. */
export const MIN_SECRET_LENGTH = 32;

/** What the running gateway knows beyond its config file (servers and groups made through the API). */
export interface KnownAtRuntime {
  servers?: Iterable<string>;
  groups?: Iterable<string>;
  roles?: Iterable<string>;
  /** Roles users hold in the store. */
  userRoles?: Iterable<string>;
}

/**
 * Legal settings that are probably mistakes: grants naming servers that do
 * not exist, groups named by providers or rate limits that do not exist,
 * stdio commands that cannot be found, short secrets. `serve` prints them at
 * start (with what the store knows), `check-config` lists them.
 */
export function configNotices(config: Config, known: KnownAtRuntime = {}): string[] {
  const out: string[] = [];
  const servers = new Set([...config.servers.map((s) => s.name), ...(known.servers ?? [])]);
  const groups = new Set([...config.groups.map((g) => g.name), ...(known.groups ?? [])]);
  const where = known.servers ? '' : ' (nor, when it starts, in the store)';
  config.groups.forEach((g, i) =>
    g.grants.forEach((gr, j) => {
      if (gr.server !== '*' && !servers.has(gr.server))
        out.push(`groups[${i}].grants[${j}].server: no server named ${gr.server} is defined in servers:${where}; this grant gives nothing`);
    }),
  );
  const groupRef = (path: string, name: string) => {
    if (!groups.has(name)) out.push(`${path}: group ${name} is not defined in groups:${where}; it grants nothing until it exists`);
  };
  config.auth.providers.forEach((p, i) => {
    if (p.type === 'static') p.tokens.forEach((t, j) => t.groups.forEach((g, k) => groupRef(`auth.providers[${i}].tokens[${j}].groups[${k}]`, g)));
    if (p.type === 'mtls') p.groups.forEach((g, k) => groupRef(`auth.providers[${i}].groups[${k}]`, g));
    if (p.type === 'static')
      p.tokens.forEach((t, j) => {
        if (t.token !== undefined && t.token.length < MIN_SECRET_LENGTH)
          out.push(`auth.providers[${i}].tokens[${j}].token_env: the token in ${t.token_env} has ${t.token.length} characters; use at least ${MIN_SECRET_LENGTH} random characters (e.g. openssl rand -base64 32)`);
      });
    if (p.type === 'jwt' && p.secret !== undefined && p.secret.length < MIN_SECRET_LENGTH)
      out.push(`auth.providers[${i}].secret_env: the secret in ${p.secret_env} has ${p.secret.length} characters; use at least ${MIN_SECRET_LENGTH} random characters`);
  });
  for (const g of Object.keys(config.rate_limits.per_group ?? {})) groupRef(`rate_limits.per_group.${g}`, g);
  config.servers.forEach((s, i) => {
    if (!isStdio(s)) return;
    const path = s.env.PATH ?? config.childBaseEnv.PATH ?? '';
    if (!findExecutable(s.command, path, s.cwd ?? process.cwd()))
      out.push(`servers[${i}].command: ${s.command} is not ${s.command.includes('/') ? 'an executable file' : 'found on PATH'}; the server cannot start`);
  });
  if (known.userRoles) {
    const roles = new Set([...ROLES, ...config.roles.map((r) => r.name), ...(known.roles ?? [])]);
    for (const r of known.userRoles) if (!roles.has(r)) out.push(`users with role ${r}: no such role is defined; they have no management permissions until it exists`);
  }
  return out;
}

/** True when `command` names an executable file: a path (relative to cwd), or a name on PATH. */
export function findExecutable(command: string, path: string, cwd: string): boolean {
  const executable = (f: string) => {
    try {
      accessSync(f, fsConstants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return executable(isAbsolute(command) ? command : resolve(cwd, command));
  return path.split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)));
}
