import { z } from 'zod';
import { isCidr } from '../lib/cidr.js';
import { parseDuration, parseSize } from '../lib/duration.js';
import { ENCRYPTION_KEY_HINT, parseEncryptionKey } from '../lib/secretbox.js';
import { BAD_FIELD_VALUE_CHAR, HTTP_TOKEN, RESERVED_REQUEST_HEADERS } from '../lib/http-syntax.js';
import { issueMessage, nearestKey, unknownKeyMessage } from './issues.js';

/** `500ms`, `60s`, `15m`, `24h`, `30d` → milliseconds. */
/** What to write instead of a value of the wrong type (a bare number has no unit). */
const DURATION_HINT = 'write a duration such as 60s (units: ms, s, m, h, d)';

export const duration = () =>
  z.string({ error: (i) => (i.input === undefined ? undefined : typeof i.input === 'number' ? `${DURATION_HINT}; a bare number has no unit` : DURATION_HINT) }).transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration like 500ms, 60s, 15m, 24h or 30d' });
      return z.NEVER;
    }
    return ms;
  });

const size = () =>
  z.union([z.string(), z.number()], { error: (i) => (i.input === undefined ? undefined : 'write a size such as 4MiB, 512KiB or a byte count') }).transform((s, ctx) => {
    const n = parseSize(s);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a size like 4MiB, 512KiB or a byte count' });
      return z.NEVER;
    }
    return n;
  });

const httpUrl = () =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');

/** The built-in roles (SPEC §2); custom roles come from `roles:` and /api/v1/roles. */
export const ROLES = ['admin', 'operator', 'viewer', 'user'] as const;
export type BuiltinRole = (typeof ROLES)[number];
/** A role name: a built-in role or a custom one. */
export type Role = string;
export const isBuiltinRole = (s: string): s is BuiltinRole => (ROLES as readonly string[]).includes(s);

/** Management permissions (SPEC §14). Roles are sets of these; MCP access comes from groups only. */
export const PERMISSIONS = [
  'servers:read',
  'servers:write',
  'servers:operate',
  'users:read',
  'users:write',
  'groups:read',
  'groups:write',
  'audit:read',
  'tokens:manage-all',
  'service-accounts:write',
  'oauth-clients:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const permissionSchema = z.enum(PERMISSIONS);

export const ROLE_NAME_RE = /^[a-z][a-z0-9_-]{0,63}$/;
/** Any role name (built-in or custom); whether it exists is checked where it is used. */
export const roleName = () => z.string().regex(ROLE_NAME_RE, 'must be a role name: 1-64 lowercase letters, digits, _ or -, starting with a letter');
/** Kept for callers that validate a role field: any well-formed role name. */
export const roleSchema = roleName();

/** A custom role: a name that is not built in, and its permissions. */
export const roleDefSchema = z.strictObject({
  name: roleName().refine((n) => !isBuiltinRole(n), 'is a built-in role; choose another name'),
  description: z.string().max(1000).default(''),
  permissions: z.array(permissionSchema).max(PERMISSIONS.length * 2).default([]),
});
export type RoleDef = z.infer<typeof roleDefSchema>;

export const SERVER_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
export const serverName = () => z.string().regex(SERVER_NAME_RE, 'must match [a-z0-9-]+ (max 64 chars, no leading/trailing -)');
export const GROUP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const groupName = () => z.string().regex(GROUP_NAME_RE, 'must be 1-128 chars of letters, digits, _ . : -');

export const grantSchema = z.strictObject({
  server: z.union([serverName(), z.literal('*')]),
  tools: z.array(z.string().min(1).max(256)).min(1),
  /** Optional URI globs for resources/read; defaults to `tools`. */
  resources: z.array(z.string().min(1).max(2048)).optional(),
  /** Optional name globs for prompts/get; defaults to `tools`. */
  prompts: z.array(z.string().min(1).max(256)).optional(),
  access_level: z.enum(['read', 'execute']),
});
export type Grant = z.infer<typeof grantSchema>;

export const groupSchema = z.strictObject({
  name: groupName(),
  description: z.string().max(1000).default(''),
  grants: z.array(grantSchema).default([]),
});
export type GroupDef = z.infer<typeof groupSchema>;

const headerValues = z.record(
  z
    .string()
    .regex(HTTP_TOKEN, 'invalid header name')
    .refine((k) => !RESERVED_REQUEST_HEADERS.has(k.toLowerCase()), 'this header is set by the gateway and cannot be configured'),
  z.string().refine((v) => !BAD_FIELD_VALUE_CHAR.test(v), 'invalid header value: control characters and characters above U+00FF are not allowed'),
);

const remoteServer = z.strictObject({
  name: serverName(),
  description: z.string().max(1000).optional(),
  url: httpUrl(),
  transport: z.enum(['streamable-http', 'sse']).default('streamable-http'),
  headers: headerValues.default({}),
  timeout: duration().default(60_000),
  /** Max concurrent upstream connections in the keep-alive pool. */
  connections: z.number().int().min(1).max(1024).default(64),
  /** `transport: sse` only: an upstream session unused this long is closed (default 10m, applied by the session sweep). */
  idle_timeout: duration().optional(),
}).superRefine((s, ctx) => {
  if (s.idle_timeout !== undefined && s.transport !== 'sse') ctx.addIssue({ code: 'custom', message: 'applies to stdio servers and remote servers with transport: sse only', path: ['idle_timeout'] });
});

const stdioServer = z.strictObject({
  name: serverName(),
  description: z.string().max(1000).optional(),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'invalid env var name'), z.string()).default({}),
  cwd: z.string().optional(),
  timeout: duration().default(60_000),
  idle_timeout: duration().default(600_000),
  max_processes: z.number().int().min(1).max(10_000).default(32),
});

export { issueMessage } from './issues.js';

/**
 * A server entry is remote (has `url`) or stdio (has `command`). The branch is
 * chosen by those keys, so problems name the real field (`servers[1].url: must
 * be an http(s) URL`) instead of a union mismatch.
 */
export const serverSchema = z.unknown().transform((v, ctx): RemoteServerDef | StdioServerDef => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: 'must be a mapping with url (remote server) or command (stdio server)' });
    return z.NEVER;
  }
  const hasUrl = 'url' in v;
  const hasCommand = 'command' in v;
  if (hasUrl === hasCommand) {
    if (!hasUrl) {
      // A typo of url or command explains the missing key better than the rule does.
      const known = [...new Set([...Object.keys(remoteServer.shape), ...Object.keys(stdioServer.shape)])];
      const typos = Object.keys(v).filter((k) => !known.includes(k));
      for (const k of typos) ctx.addIssue({ code: 'custom', message: unknownKeyMessage(k, known), path: [k] });
      if (typos.some((k) => ['url', 'command'].includes(nearestKey(k, known) ?? ''))) return z.NEVER;
    }
    ctx.addIssue({ code: 'custom', message: hasUrl ? 'set either url (remote server) or command (stdio server), not both' : 'needs url (remote server) or command (stdio server)' });
    return z.NEVER;
  }
  const branch = hasUrl ? remoteServer : stdioServer;
  const r = branch.safeParse(v);
  if (r.success) return r.data;
  for (const i of r.error.issues) {
    if (i.code === 'unrecognized_keys') for (const k of i.keys) ctx.addIssue({ code: 'custom', message: unknownKeyMessage(k, Object.keys(branch.shape)), path: [...i.path, k] });
    else ctx.addIssue({ code: 'custom', message: issueMessage(i), path: [...i.path] });
  }
  return z.NEVER;
});
export type RemoteServerDef = z.infer<typeof remoteServer>;
export type StdioServerDef = z.infer<typeof stdioServer>;
export type ServerDef = RemoteServerDef | StdioServerDef;
export const remoteServerSchema = remoteServer;
export const stdioServerSchema = stdioServer;
export const isStdio = (s: ServerDef): s is StdioServerDef => 'command' in s;

const claimsSchema = z.strictObject({
  subject: z.string().default('sub'),
  email: z.string().default('email'),
  role: z.string().optional(),
  groups: z.string().optional(),
});

const JWT_ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const jwtProvider = z.strictObject({
  type: z.literal('jwt'),
  name: z.string().regex(/^[a-z0-9-]+$/),
  issuer: z.string().min(1),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  algorithms: z.array(z.enum(JWT_ALGS)).min(1),
  jwks_uri: httpUrl().optional(),
  public_key_file: z.string().optional(),
  secret_env: z.string().optional(),
  /** Resolved by the loader from `secret_env`; never written in the file. */
  secret: z.string().optional(),
  clock_skew: duration().default(60_000),
  typ: z.string().optional(),
  required_claims: z.array(z.string()).default([]),
  claims: claimsSchema.prefault({}),
  role_map: z.record(z.string(), roleSchema).default({}),
  default_role: roleSchema.default('user'),
  jwks_timeout: duration().default(5_000),
  jwks_cooldown: duration().default(30_000),
  jwks_cache_max_age: duration().default(600_000),
  cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
  /** List this issuer in the RFC 9728 metadata of every MCP endpoint (clients may get tokens from it). */
  advertise: z.boolean().default(false),
});

const introspectionProvider = z.strictObject({
  type: z.literal('introspection'),
  name: z.string().regex(/^[a-z0-9-]+$/),
  url: httpUrl(),
  client_id_env: z.string(),
  client_secret_env: z.string(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  required_scopes: z.array(z.string()).default([]),
  cache_ttl: duration().default(300_000),
  cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
  timeout: duration().default(5_000),
  claims: claimsSchema.prefault({}),
  role_map: z.record(z.string(), roleSchema).default({}),
  default_role: roleSchema.default('user'),
});

const staticToken = z.strictObject({
  name: z.string().min(1),
  token_env: z.string().optional(),
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256').optional(),
  token: z.string().optional(),
  role: roleSchema.default('user'),
  groups: z.array(z.string()).default([]),
});

const staticProvider = z.strictObject({
  type: z.literal('static'),
  name: z.string().regex(/^[a-z0-9-]+$/),
  tokens: z.array(staticToken).min(1),
});

const mtlsProvider = z.strictObject({
  type: z.literal('mtls'),
  name: z.string().regex(/^[a-z0-9-]+$/),
  allowed_subjects: z.array(z.string().min(1)).min(1),
  role: roleSchema.default('user'),
  groups: z.array(z.string()).default([]),
});

export const providerSchema = z.discriminatedUnion('type', [jwtProvider, introspectionProvider, staticProvider, mtlsProvider]);
export type ProviderDef = z.infer<typeof providerSchema>;
export type JwtProviderDef = z.infer<typeof jwtProvider>;
export type IntrospectionProviderDef = z.infer<typeof introspectionProvider>;
export type StaticProviderDef = z.infer<typeof staticProvider>;
export type MtlsProviderDef = z.infer<typeof mtlsProvider>;

const rateRule = z.strictObject({ requests: z.number().int().min(1), per: duration() });

/** A duration within [min, max] milliseconds. */
const boundedDuration = (min: number, max: number, message: string) => duration().refine((ms) => ms >= min && ms <= max, message);

/** A client of the authorization server defined in the config file (SPEC §10). */
const preRegisteredClient = z.strictObject({
  client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1-128 characters of letters, digits, . _ ~ -'),
  client_name: z.string().min(1).max(200),
  redirect_uris: z.array(z.string()).min(1, 'must list at least one redirect URI').max(50),
  /** Name of the environment variable holding the client secret; omit for a public client (PKCE only). */
  client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  /** Resolved by the loader from `client_secret_env`; never written in the file. */
  client_secret: z.string().optional(),
});
export type PreRegisteredClient = z.infer<typeof preRegisteredClient>;

export const HOST_PATTERN_RE = /^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*$/;

/** `auth.authorization_server`: the OAuth 2.1 authorization server for MCP clients (SPEC §10). */
const authorizationServer = z.strictObject({
  enabled: z.boolean().default(true),
  client_id_metadata_documents: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Hosts whose metadata documents are accepted (`example.com` or `*.example.com`); empty: any public host. */
      allowed_hosts: z.array(z.string().toLowerCase().regex(HOST_PATTERN_RE, 'must be a host name like claude.ai or *.example.com')).default([]),
      /** Also accept documents at http://127.0.0.1:PORT/... and http://localhost:PORT/... (development and tests). */
      allow_loopback_http: z.boolean().default(false),
    })
    .prefault({}),
  dynamic_registration: z.enum(['open', 'admin', 'off']).default('open'),
  clients: z.array(preRegisteredClient).default([]),
  authorization_code_ttl: boundedDuration(1_000, 600_000, 'must be between 1s and 10m').default(60_000),
  consent_ttl: boundedDuration(60_000, 3650 * 86_400_000, 'must be between 1m and 3650d').default(90 * 86_400_000),
});
export type AuthorizationServerConfig = z.infer<typeof authorizationServer>;
/** An IPv4/IPv6 address or CIDR block (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`). */
const cidr = () => z.string().refine(isCidr, 'must be an IP address or CIDR block (e.g. 10.0.0.0/8 or fd00::/8)');

/** A duration that must be above zero (node:http reads 0 as "no timeout"). */
const positiveDuration = () => duration().refine((ms) => ms > 0, 'must be longer than 0');

/** How long a client may take (SPEC §15): the head, the whole request, an idle keep-alive connection. */
const serverTimeouts = z
  .strictObject({
    headers: positiveDuration().default(10_000),
    request: positiveDuration().default(30_000),
    keep_alive: positiveDuration().default(5_000),
  })
  .refine((t) => t.headers <= t.request, { message: 'headers must not be longer than request (the head is part of the request)', path: ['headers'] })
  .prefault({});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      public_url: httpUrl().optional(),
      allowed_origins: z.array(z.string()).default([]),
      body_limit: size().default(4 * 1024 * 1024),
      trusted_proxies: z.array(cidr()).default([]),
      shutdown_timeout: duration().default(10_000),
      timeouts: serverTimeouts,
      /** Most JSON-RPC messages in one batch (larger: 413, nothing forwarded). */
      max_batch: z.number().int().min(1).max(100_000).default(100),
      tls: z
        .strictObject({
          cert_file: z.string(),
          key_file: z.string(),
          min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
          client_auth: z.enum(['none', 'request', 'require']).default('none'),
          client_ca_file: z.string().optional(),
          crl_file: z.string().optional(),
        })
        .optional(),
    })
    .prefault({}),
  storage: z
    .strictObject({
      url: z
        .string()
        .refine((s) => s.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(s), 'must be sqlite:PATH or postgres://...')
        .default('sqlite:./data/portcullis.db'),
      pool_size: z.number().int().min(1).max(200).default(10),
    })
    .prefault({}),
  redis: z
    .strictObject({
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
      key_prefix: z.string().default('portcullis:'),
    })
    .optional(),
  auth: z
    .strictObject({
      registration: z.enum(['open', 'first-user-only', 'closed']).default('open'),
      access_token_ttl: duration().default(15 * 60_000),
      refresh_token_ttl: duration().default(30 * 86_400_000),
      audience: z.string().optional(),
      /** Entries in the verified-token and API-token caches; 0 disables both (every request verifies from scratch). */
      token_cache_size: z.number().int().min(0).max(1_000_000).default(50_000),
      signing: z
        .strictObject({
          algorithm: z.enum(['HS256', 'RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']),
          private_key_file: z.string().optional(),
          key_id: z.string().optional(),
        })
        .optional(),
      login_throttle: z
        .strictObject({
          per_account: rateRule.default({ requests: 5, per: 15 * 60_000 } as never),
          per_ip: rateRule.default({ requests: 30, per: 15 * 60_000 } as never),
        })
        .prefault({}),
      providers: z.array(providerSchema).default([]),
      authorization_server: authorizationServer.prefault({}),
      /** Browser sign-in sessions (the /login page, consent pages, the console). */
      browser_sessions: z
        .strictObject({
          idle_timeout: boundedDuration(60_000, 30 * 86_400_000, 'must be between 1m and 30d').default(8 * 3_600_000),
          max_age: boundedDuration(60_000, 365 * 86_400_000, 'must be between 1m and 365d').default(7 * 86_400_000),
        })
        .prefault({}),
      /** Sign-in with email and password (the /login form and POST /api/v1/auth/login); false: external sign-in only. */
      password_login: z.boolean().default(true),
    })
    .prefault({}),
  credentials: z
    .strictObject({
      /** 32-byte key (base64 or 64 hex chars) encrypting per-user upstream secrets. */
      encryption_key: z.string().refine((k) => parseEncryptionKey(k) !== undefined, ENCRYPTION_KEY_HINT).optional(),
    })
    .prefault({}),
  servers: z.array(serverSchema).default([]),
  groups: z.array(groupSchema).default([]),
  /** Custom roles (read-only in the API); built-in roles cannot be redefined. */
  roles: z.array(roleDefSchema).default([]),
  rate_limits: z
    .strictObject({
      per_ip: rateRule.optional(),
      per_user: rateRule.optional(),
      per_group: z.record(groupName(), rateRule).optional(),
      per_token: z.strictObject({ default_per_hour: z.number().int().min(1) }).optional(),
      global: rateRule.optional(),
      exempt: z.array(cidr()).default([]),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Caps per principal, so one caller cannot exhaust a shared upstream (past a cap: 429). */
      per_principal: z
        .strictObject({
          sessions: z.number().int().min(1).max(1_000_000).default(100),
          stdio_processes: z.number().int().min(1).max(10_000).default(4),
          event_streams: z.number().int().min(1).max(1_000_000).default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  audit: z
    .strictObject({
      enabled: z.boolean().default(true),
      stdout: z.boolean().default(false),
      retention: duration().default(90 * 86_400_000),
      queue_size: z.number().int().min(100).max(1_000_000).default(10_000),
      flush_interval: duration().default(1_000),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      path: z.string().startsWith('/').default('/metrics'),
      require_auth: z.boolean().default(false),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
