import { type Config } from './load.js';
import { isStdio } from './schema.js';
import { configNotices, configWarnings } from './warnings.js';

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return url;
  }
}

export interface ConfigSummary {
  ok: true;
  config_file: string | null;
  server: { host: string; port: number; public_url: string; tls: boolean; client_auth: string; body_limit: number };
  storage: { backend: 'sqlite' | 'postgres'; url: string };
  redis: { url: string } | null;
  auth: {
    registration: string; access_token_ttl_ms: number; refresh_token_ttl_ms: number; signing: string; providers: { name: string; type: string }[];
    password_login: boolean;
    authorization_server: { enabled: boolean; dynamic_registration: string; client_id_metadata_documents: boolean; clients: string[] };
  };
  servers: { name: string; kind: 'remote' | 'stdio'; transport?: string }[];
  groups: string[];
  roles: { name: string; permissions: string[] }[];
  metrics: { enabled: boolean; path: string };
  audit: { enabled: boolean; stdout: boolean };
  logging: { level: string };
  warnings: string[];
}

/**
 * A machine-readable description of a loaded config that holds no secret:
 * URLs lose their passwords; header values, env values, tokens and keys are
 * never included (only names and counts).
 */
export function summarizeConfig(c: Config): ConfigSummary {
  return {
    ok: true,
    config_file: c.configFile,
    server: {
      host: c.server.host,
      port: c.server.port,
      public_url: c.server.public_url,
      tls: !!c.server.tls,
      client_auth: c.server.tls?.client_auth ?? 'none',
      body_limit: c.server.body_limit,
    },
    storage: { backend: c.storage.url.startsWith('sqlite:') ? 'sqlite' : 'postgres', url: c.storage.url.startsWith('sqlite:') ? c.storage.url : redactUrl(c.storage.url) },
    redis: c.redis ? { url: redactUrl(c.redis.url) } : null,
    auth: {
      registration: c.auth.registration,
      access_token_ttl_ms: c.auth.access_token_ttl,
      refresh_token_ttl_ms: c.auth.refresh_token_ttl,
      signing: c.auth.signing?.algorithm ?? 'HS256 (generated secret kept in the store)',
      providers: c.auth.providers.map((p) => ({ name: p.name, type: p.type })),
      password_login: c.auth.password_login,
      authorization_server: {
        enabled: c.auth.authorization_server.enabled,
        dynamic_registration: c.auth.authorization_server.dynamic_registration,
        client_id_metadata_documents: c.auth.authorization_server.client_id_metadata_documents.enabled,
        clients: c.auth.authorization_server.clients.map((x) => x.client_id),
      },
    },
    servers: c.servers.map((s) => (isStdio(s) ? { name: s.name, kind: 'stdio' as const } : { name: s.name, kind: 'remote' as const, transport: s.transport })),
    groups: c.groups.map((g) => g.name),
    roles: c.roles.map((r) => ({ name: r.name, permissions: [...r.permissions] })),
    metrics: { enabled: c.metrics.enabled, path: c.metrics.path },
    audit: { enabled: c.audit.enabled, stdout: c.audit.stdout },
    logging: { level: c.logging.level },
    warnings: [...configWarnings(c), ...configNotices(c)],
  };
}
