/**
 * A server definition as the management API and the CLI show it: header and
 * env NAMES only, never their values (they often carry upstream secrets).
 */
import { isStdio, type ServerDef } from '../config/schema.js';
import { type ServerSource } from './registry.js';

/** How long a legacy-SSE upstream session may stay unused when its server sets no `idle_timeout`. */
export const LEGACY_SSE_IDLE_TIMEOUT_MS = 600_000;

export type Transport = 'streamable-http' | 'sse' | 'stdio';

export const transportOf = (def: ServerDef): Transport => (isStdio(def) ? 'stdio' : def.transport);

export interface ServerSummary {
  name: string;
  description: string | null;
  transport: Transport;
  source: ServerSource;
  endpoint: string;
}

export function serverSummary(def: ServerDef, source: ServerSource, publicUrl: string): ServerSummary {
  return { name: def.name, description: def.description ?? null, transport: transportOf(def), source, endpoint: `${publicUrl}/mcp/${def.name}` };
}

/** Definition fields for management roles (admin, operator, viewer) and the CLI. */
export function serverDefinition(def: ServerDef) {
  if (isStdio(def))
    return {
      command: def.command,
      args: def.args,
      env: Object.keys(def.env).sort(),
      cwd: def.cwd ?? null,
      timeout_ms: def.timeout,
      idle_timeout_ms: def.idle_timeout,
      max_processes: def.max_processes,
    };
  return {
    url: def.url,
    headers: Object.keys(def.headers).sort(),
    timeout_ms: def.timeout,
    connections: def.connections,
    ...(def.transport === 'sse' ? { idle_timeout_ms: def.idle_timeout ?? LEGACY_SSE_IDLE_TIMEOUT_MS } : {}),
  };
}
