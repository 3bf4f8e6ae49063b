/**
 * The one place that reads `process.env` and the config file. Everything else
 * receives the frozen `Config` this returns.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { configSchema, ROLES, type ParsedConfig } from './schema.js';
import { formatPath, formatZodIssues } from './issues.js';
import { checkJwtKeys, checkSigningKey } from './keys.js';
import { parseLeniently } from './lenient.js';
import { compileSubjectPattern, DnSyntaxError } from '../lib/distinguished-name.js';
import { RESERVED_PROVIDER_NAMES } from '../lib/principal-id.js';

export { formatPath, formatZodIssues } from './issues.js';
import { redirectUriProblem } from '../lib/redirect-uri.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export type Config = ParsedConfig & {
  server: ParsedConfig['server'] & { public_url: string };
  /** Folder relative paths are resolved against. */
  configDir: string;
  configFile: string | null;
  /** Environment handed to stdio children as a base (PATH, HOME, ...). */
  childBaseEnv: Record<string, string>;
};

export interface LoadOptions {
  /** Path to the YAML file; falls back to PORTCULLIS_CONFIG, then none. */
  file?: string | null;
  /** Environment to read (default process.env). Tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** Parsed config object to use instead of a file (tests). */
  object?: unknown;
  /** Base folder for relative paths when no file is given. */
  cwd?: string;
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replace `${VAR}` / `${VAR:-default}` in every string value; `$${` is a literal `${`. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string | undefined, def: string | undefined) => {
      if (match === '$${') return '${';
      const v = env[name!];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], problems);
    return out;
  }
  return value;
}

function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

/** The documented env overrides. Each maps one variable to one setting. */
export const ENV_OVERRIDES: { env: string; path: string[]; kind: 'string' | 'port' }[] = [
  { env: 'PORTCULLIS_HOST', path: ['server', 'host'], kind: 'string' },
  { env: 'PORTCULLIS_PORT', path: ['server', 'port'], kind: 'port' },
  { env: 'PORTCULLIS_PUBLIC_URL', path: ['server', 'public_url'], kind: 'string' },
  { env: 'PORTCULLIS_DATABASE_URL', path: ['storage', 'url'], kind: 'string' },
  { env: 'PORTCULLIS_REDIS_URL', path: ['redis', 'url'], kind: 'string' },
  { env: 'PORTCULLIS_LOG_LEVEL', path: ['logging', 'level'], kind: 'string' },
  { env: 'PORTCULLIS_ENCRYPTION_KEY', path: ['credentials', 'encryption_key'], kind: 'string' },
];

/**
 * Sections of the contract that this build does not implement yet. They are
 * refused, never silently ignored. Remove an entry when the feature lands.
 */
export const NOT_SUPPORTED: { path: string; when: (raw: Record<string, any>) => boolean }[] = [
];

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file !== undefined ? opts.file : (env.PORTCULLIS_CONFIG ?? null);
  const problems: string[] = [];
  let raw: unknown = {};
  let configDir = resolve(opts.cwd ?? process.cwd());
  let configFile: string | null = null;

  if (opts.object !== undefined) {
    raw = structuredClone(opts.object);
  } else if (file) {
    configFile = resolve(file);
    if (!existsSync(configFile)) throw new ConfigError([`config file not found: ${configFile}`]);
    configDir = dirname(configFile);
    raw = readYaml(configFile);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): must be a mapping']);
  // A section whose entries are all commented out (`servers:` with nothing under it) is empty, not null.
  for (const [k, v] of Object.entries(raw)) if (v === null) delete (raw as Record<string, unknown>)[k];

  const interpolated = interpolate(raw, env, [], problems) as Record<string, unknown>;

  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    if (o.kind === 'port') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        problems.push(`${o.env}: must be a port number (0-65535)`);
        continue;
      }
      setIn(interpolated, o.path, n);
    } else setIn(interpolated, o.path, v);
  }

  for (const ns of NOT_SUPPORTED) {
    if (ns.when(interpolated)) problems.push(`${ns.path}: not supported yet in this version of Portcullis`);
  }

  // Every problem in one run: when the schema fails, the checks below still run on the parts that parsed.
  const parsed = configSchema.safeParse(interpolated);
  let cfg: ParsedConfig;
  let failed = new Set<string>();
  if (parsed.success) cfg = parsed.data;
  else {
    problems.push(...formatZodIssues(parsed.error.issues, configSchema).map((p) => withOverrideSource(p, env)));
    ({ cfg, failed } = parseLeniently(interpolated));
  }
  const rawRoleNames = Array.isArray(interpolated.roles) ? interpolated.roles.flatMap((r) => (r && typeof r === 'object' && typeof r.name === 'string' ? [r.name as string] : [])) : [];
  crossCheck(cfg, failed, { env, configDir, rawRoleNames }, problems);
  if (problems.length) throw new ConfigError(problems);

  const scheme = cfg.server.tls ? 'https' : 'http';
  const hostForUrl = cfg.server.host.includes(':') ? `[${cfg.server.host}]` : cfg.server.host;
  const publicUrl = (cfg.server.public_url ?? `${scheme}://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${cfg.server.port}`).replace(/\/+$/, '');

  const childBaseEnv: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'SYSTEMROOT']) if (env[k]) childBaseEnv[k] = env[k]!;

  const out: Config = {
    ...cfg,
    server: { ...cfg.server, public_url: publicUrl },
    configDir,
    configFile,
    childBaseEnv,
  };
  return deepFreeze(out);
}

/** Parse the file; every YAML syntax error is reported, with its line. */
function readYaml(configFile: string): unknown {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (e) {
    throw new ConfigError([`config file ${configFile} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    // One mistake (a bad indent) can cascade into dozens of parser errors: the first few say where.
    const shown = doc.errors.slice(0, 5).map((e) => `config file ${configFile} is not valid YAML: ${e.message.split('\n')[0]}`);
    if (doc.errors.length > 5) shown.push(`config file ${configFile}: ${doc.errors.length - 5} more YAML errors after these`);
    throw new ConfigError(shown);
  }
  return doc.toJS() ?? {};
}

/**
 * Checks that need the parsed values: secrets named by env, references
 * between sections, files. Entries that failed the schema are null holes and
 * sections named in `failed` hold defaults; checks that read them are skipped.
 */
function crossCheck(cfg: ParsedConfig, failed: Set<string>, ctx: { env: NodeJS.ProcessEnv; configDir: string; rawRoleNames: string[] }, problems: string[]): void {
  const { env, configDir } = ctx;
  const providers = cfg.auth.providers;
  // Secrets referenced by name are resolved here, once.
  providers.forEach((p, i) => {
    if (!p) return;
    if (p.type === 'jwt') {
      const keySources = [p.jwks_uri, p.public_key_file, p.secret_env].filter(Boolean).length;
      if (keySources !== 1) problems.push(`auth.providers[${i}]: exactly one of jwks_uri, public_key_file, secret_env is required`);
      if (p.secret !== undefined) problems.push(`auth.providers[${i}].secret: not allowed in the file; use secret_env`);
      if (p.secret_env) {
        const s = env[p.secret_env];
        if (!s) problems.push(`auth.providers[${i}].secret_env: environment variable ${p.secret_env} is not set`);
        else p.secret = s;
      }
      if (p.public_key_file) p.public_key_file = resolvePath(configDir, p.public_key_file);
      if (keySources === 1) checkJwtKeys(p, `auth.providers[${i}]`, problems);
    } else if (p.type === 'introspection') {
      if (p.client_id !== undefined || p.client_secret !== undefined)
        problems.push(`auth.providers[${i}]: client_id/client_secret are not allowed in the file; use *_env`);
      p.client_id = env[p.client_id_env];
      p.client_secret = env[p.client_secret_env];
      if (!p.client_id) problems.push(`auth.providers[${i}].client_id_env: environment variable ${p.client_id_env} is not set`);
      if (!p.client_secret) problems.push(`auth.providers[${i}].client_secret_env: environment variable ${p.client_secret_env} is not set`);
    } else if (p.type === 'static') {
      p.tokens.forEach((t, j) => {
        const where = `auth.providers[${i}].tokens[${j}]`;
        if (t.token !== undefined) problems.push(`${where}.token: not allowed in the file; use token_env or token_sha256`);
        if (!!t.token_env === !!t.token_sha256) problems.push(`${where}: exactly one of token_env, token_sha256 is required`);
        if (t.token_env) {
          const s = env[t.token_env];
          if (!s) problems.push(`${where}.token_env: environment variable ${t.token_env} is not set`);
          else t.token = s;
        }
      });
    }
  });
  duplicates(providers, 'auth.providers', 'provider', problems);
  duplicates(cfg.servers, 'servers', 'server', problems);
  duplicates(cfg.groups, 'groups', 'group', problems);
  duplicates(cfg.roles, 'roles', 'role', problems);

  // Roles named by providers must exist: built-in, or defined under roles: (roles made through the API may come and go).
  const roles = new Set<string>([...ROLES, ...ctx.rawRoleNames]);
  const unknownRole = (where: string, r: string) => {
    if (!roles.has(r)) problems.push(`${where}: unknown role ${r}; use a built-in role (${ROLES.join(', ')}) or define it under roles:`);
  };
  providers.forEach((p, i) => {
    if (!p) return;
    const where = `auth.providers[${i}]`;
    if (RESERVED_PROVIDER_NAMES.includes(p.name))
      problems.push(`${where}.name: ${p.name} is reserved (ids beginning "${p.name}:" belong to other principals); choose another name`);
    if (p.type === 'jwt' || p.type === 'introspection') {
      unknownRole(`${where}.default_role`, p.default_role);
      for (const [k, r] of Object.entries(p.role_map)) unknownRole(`${where}.role_map.${k}`, r);
    } else if (p.type === 'static') p.tokens.forEach((t, j) => unknownRole(`${where}.tokens[${j}].role`, t.role));
    else if (p.type === 'mtls') unknownRole(`${where}.role`, p.role);
  });
  if (!failed.has('auth')) checkAuthorizationServer(cfg, ctx.env, problems);
  if (cfg.server.tls && !failed.has('server')) {
    const t = cfg.server.tls;
    t.cert_file = resolvePath(configDir, t.cert_file);
    t.key_file = resolvePath(configDir, t.key_file);
    if (t.client_ca_file) t.client_ca_file = resolvePath(configDir, t.client_ca_file);
    if (t.crl_file) t.crl_file = resolvePath(configDir, t.crl_file);
    if (t.client_auth !== 'none' && !t.client_ca_file) problems.push('server.tls.client_ca_file: required when client_auth is request or require');
    if (t.client_auth === 'none' && t.client_ca_file) problems.push('server.tls.client_ca_file: only used with client_auth request or require');
    if (t.client_auth === 'none' && t.crl_file) problems.push('server.tls.crl_file: only used with client_auth request or require');
    for (const k of ['cert_file', 'key_file', 'client_ca_file', 'crl_file'] as const) {
      const f = t[k];
      if (f && !existsSync(f)) problems.push(`server.tls.${k}: file not found: ${f}`);
    }
  }
  providers.forEach((p, i) => {
    if (!p || p.type !== 'mtls') return;
    if (!failed.has('server') && (!cfg.server.tls || cfg.server.tls.client_auth === 'none'))
      problems.push(`auth.providers[${i}]: an mtls provider needs server.tls with client_auth request or require`);
    p.allowed_subjects.forEach((pat, j) => {
      try {
        compileSubjectPattern(pat);
      } catch (e) {
        problems.push(`auth.providers[${i}].allowed_subjects[${j}]: ${e instanceof DnSyntaxError ? e.message : 'invalid subject pattern'}`);
      }
    });
  });
  if (cfg.auth.signing && !failed.has('auth')) {
    const s = cfg.auth.signing;
    if (s.algorithm !== 'HS256' && !s.private_key_file) problems.push('auth.signing.private_key_file: required for asymmetric algorithms');
    if (s.algorithm === 'HS256' && s.private_key_file) problems.push('auth.signing.private_key_file: not used with HS256 (the secret is generated and kept in the store)');
    if (s.private_key_file) {
      s.private_key_file = resolvePath(configDir, s.private_key_file);
      if (!existsSync(s.private_key_file)) problems.push(`auth.signing.private_key_file: file not found: ${s.private_key_file}`);
      else if (s.algorithm !== 'HS256') checkSigningKey(s.private_key_file, s.algorithm, problems);
    }
  }
  if (cfg.storage.url.startsWith('sqlite:')) {
    const p = cfg.storage.url.slice('sqlite:'.length);
    if (p !== ':memory:') cfg.storage.url = 'sqlite:' + resolvePath(configDir, p);
  }
  cfg.servers.forEach((s) => {
    if (s && 'cwd' in s && s.cwd) s.cwd = resolvePath(configDir, s.cwd);
  });
}

/** `<list>[i].name: duplicate <what> name x` for every repeat (null holes skipped). */
function duplicates(list: readonly ({ name: string } | null)[], where: string, what: string, problems: string[]): void {
  const seen = new Set<string>();
  list.forEach((x, i) => {
    if (!x) return;
    if (seen.has(x.name)) problems.push(`${where}[${i}].name: duplicate ${what} name ${x.name}`);
    seen.add(x.name);
  });
}

/** Name the env override a bad value came from (`server.port: ... (from PORTCULLIS_PORT)`). */
function withOverrideSource(problem: string, env: NodeJS.ProcessEnv): string {
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v !== undefined && v !== '' && problem.startsWith(`${o.path.join('.')}: `)) return `${problem} (from ${o.env})`;
  }
  return problem;
}

/**
 * `auth.authorization_server` and `auth.browser_sessions` beyond their schema:
 * pre-registered clients (unique ids, redirect URI rules, secrets from the
 * environment, at least 256 bits) and timeouts that fit together.
 */
function checkAuthorizationServer(cfg: ParsedConfig, env: NodeJS.ProcessEnv, problems: string[]): void {
  const as = cfg.auth.authorization_server;
  const ids = new Set<string>();
  as.clients.forEach((c, i) => {
    const where = `auth.authorization_server.clients[${i}]`;
    if (ids.has(c.client_id)) problems.push(`${where}.client_id: duplicate client_id ${c.client_id}`);
    ids.add(c.client_id);
    if (c.client_secret !== undefined) problems.push(`${where}.client_secret: not allowed in the file; use client_secret_env`);
    c.redirect_uris.forEach((u, j) => {
      const problem = redirectUriProblem(u);
      if (problem) problems.push(`${where}.redirect_uris[${j}]: ${problem}`);
    });
    if (c.client_secret_env) {
      const s = env[c.client_secret_env];
      if (!s) problems.push(`${where}.client_secret_env: environment variable ${c.client_secret_env} is not set`);
      else if (Buffer.byteLength(s, 'utf8') < 32) problems.push(`${where}.client_secret_env: the secret in ${c.client_secret_env} must be at least 32 characters`);
      else c.client_secret = s;
    }
  });
  const bs = cfg.auth.browser_sessions;
  if (bs.idle_timeout > bs.max_age) problems.push('auth.browser_sessions.idle_timeout: must not be longer than max_age');
}

function resolvePath(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
