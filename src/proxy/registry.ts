/**
 * The set of MCP servers the gateway fronts: the config file's servers
 * (read-only) plus servers defined at runtime through the API (the `servers`
 * table). Runtime definitions are validated with the same schema as the file
 * and may only describe remote upstreams: the gateway spawns processes from
 * its config file only, never from data that arrived over HTTP.
 */
import { type z } from 'zod';
import { type Config } from '../config/index.js';
import { isStdio, remoteServerSchema, serverSchema, type RemoteServerDef, type ServerDef } from '../config/schema.js';
import { type Bus } from '../lib/bus.js';
import { type Store } from '../store/index.js';

export type ServerSource = 'config' | 'api';

export interface RegistryLogger {
  warn(obj: object, msg: string): void;
}

export type RuntimeServerValidation =
  | { ok: true; server: RemoteServerDef }
  | { ok: false; issues: { field: string; message: string }[] };

/**
 * Validate a runtime (API-defined) server definition. Only remote upstreams
 * (`url`, optional `transport`, `headers`, `timeout`, `connections`) are
 * allowed; `command` is refused because request data never chooses a process.
 * Header values are taken literally (no `${ENV}` interpolation at runtime).
 */
export function validateRuntimeServer(input: unknown): RuntimeServerValidation {
  if (input && typeof input === 'object' && 'command' in input)
    return { ok: false, issues: [{ field: 'command', message: 'stdio servers can only be defined in the config file' }] };
  const r = remoteServerSchema.safeParse(input);
  if (r.success) return { ok: true, server: r.data };
  return {
    ok: false,
    issues: r.error.issues.flatMap((i: z.core.$ZodIssue) =>
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => ({ field: [...i.path, k].map(String).join('.'), message: 'unknown field' }))
        : [{ field: i.path.map(String).join('.') || '(root)', message: i.message }],
    ),
  };
}

export type RegistryChange = { name: string; kind: 'added' | 'changed' | 'removed' };

export class ServerRegistry {
  private readonly fromConfig = new Map<string, ServerDef>();
  private runtime = new Map<string, ServerDef>();
  private readonly listeners = new Set<(changes: RegistryChange[]) => void>();
  private loading: Promise<void> | null = null;
  private readonly unsubscribe: () => void;
  /** Bumped on every applied change. */
  version = 0;

  private constructor(
    config: Config,
    private readonly store: Store,
    bus: Bus,
    private readonly logger: RegistryLogger,
  ) {
    for (const s of config.servers) this.fromConfig.set(s.name, s);
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind === 'servers' || e.kind === 'flush') {
        this.loading = this.reload();
        this.loading.catch((err) => this.logger.warn({ err }, 'reloading runtime servers failed'));
      }
    });
  }

  static async create(config: Config, store: Store, bus: Bus, logger: RegistryLogger): Promise<ServerRegistry> {
    const r = new ServerRegistry(config, store, bus, logger);
    await r.reload();
    return r;
  }

  /** Re-read runtime servers from the store (also runs on bus {kind:'servers'}). */
  async reload(): Promise<void> {
    const rows = await this.store.servers.list();
    const next = new Map<string, ServerDef>();
    for (const row of rows) {
      if (this.fromConfig.has(row.name)) {
        this.logger.warn({ server: row.name }, 'runtime server shadowed by a config-file server of the same name; ignored');
        continue;
      }
      const def = { ...(row.definition as Record<string, unknown>), name: row.name };
      const parsed = serverSchema.safeParse(def);
      if (!parsed.success) {
        this.logger.warn({ server: row.name }, 'stored server definition is invalid; ignored');
        continue;
      }
      if (isStdio(parsed.data)) {
        this.logger.warn({ server: row.name }, 'stored stdio server definition refused (stdio servers come from the config file only)');
        continue;
      }
      next.set(row.name, parsed.data);
    }
    const changes: RegistryChange[] = [];
    for (const [name, def] of next) {
      const old = this.runtime.get(name);
      if (!old) changes.push({ name, kind: 'added' });
      else if (JSON.stringify(old) !== JSON.stringify(def)) changes.push({ name, kind: 'changed' });
    }
    for (const name of this.runtime.keys()) if (!next.has(name)) changes.push({ name, kind: 'removed' });
    this.runtime = next;
    if (changes.length) {
      this.version++;
      for (const l of this.listeners) l(changes);
    }
  }

  /** Resolves once any reload triggered by the bus has been applied. */
  async ready(): Promise<void> {
    if (this.loading) await this.loading.catch(() => {});
  }

  get(name: string): ServerDef | undefined {
    return this.fromConfig.get(name) ?? this.runtime.get(name);
  }

  list(): ServerDef[] {
    return [...this.fromConfig.values(), ...this.runtime.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  source(name: string): ServerSource | undefined {
    if (this.fromConfig.has(name)) return 'config';
    if (this.runtime.has(name)) return 'api';
    return undefined;
  }

  /** Called with the names that were added, changed or removed. */
  onChange(fn: (changes: RegistryChange[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }
}
