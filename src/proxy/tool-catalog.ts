/**
 * What each upstream offers (tools, resources, prompts), as last discovered.
 * Serves `GET /api/v1/servers/{name}/tools` without a discovery round per
 * request: entries live for `ttlMs`, are refreshed by an explicit discover,
 * and are dropped when the server's definition changes.
 *
 * Discovery runs with the gateway's own upstream credentials (the server's
 * `headers`). When the caller has stored per-user credentials for the server,
 * discovery runs with those instead and the result is cached for that caller
 * only, since an upstream may offer different things to different accounts.
 */
import { type UpstreamCredentials } from './credentials.js';
import { type ServerRegistry } from './registry.js';
import { type DiscoveredCatalog, type UpstreamManager } from './upstream-manager.js';

export interface CatalogEntry {
  catalog: DiscoveredCatalog;
  discoveredAt: string;
}

interface Cached extends CatalogEntry {
  expiresAt: number;
}

export class ToolCatalog {
  private readonly entries = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<CatalogEntry>>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly upstreams: Pick<UpstreamManager, 'discover'>,
    registry: Pick<ServerRegistry, 'onChange'>,
    private readonly credentials: () => UpstreamCredentials | null,
    private readonly ttlMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = registry.onChange((changes) => {
      for (const c of changes) this.forget(c.name);
    });
  }

  /** The cached catalog, or a fresh discovery when there is none (or it expired). */
  async get(server: string, principalId: string | null): Promise<CatalogEntry> {
    const key = await this.keyFor(server, principalId);
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > this.now()) return hit;
    return this.discover(key, server, principalId);
  }

  /** Discover now (operator action) and cache the result. */
  async refresh(server: string, principalId: string | null): Promise<CatalogEntry> {
    const key = await this.keyFor(server, principalId);
    return this.discover(key, server, principalId, true);
  }

  forget(server: string): void {
    for (const k of this.entries.keys()) if (k === server || k.startsWith(`${server}\0`)) this.entries.delete(k);
  }

  close(): void {
    this.unsubscribe();
    this.entries.clear();
  }

  private async keyFor(server: string, principalId: string | null): Promise<string> {
    if (!principalId) return server;
    const own = await this.credentials()?.headersFor(principalId, server);
    return own ? `${server}\0${principalId}` : server;
  }

  private discover(key: string, server: string, principalId: string | null, force = false): Promise<CatalogEntry> {
    const inflight = this.pending.get(key);
    if (inflight && !force) return inflight;
    const usePrincipal = key === server ? null : principalId;
    const p = this.upstreams
      .discover(server, usePrincipal)
      .then((catalog) => {
        const entry: Cached = { catalog, discoveredAt: new Date(this.now()).toISOString(), expiresAt: this.now() + this.ttlMs };
        this.entries.set(key, entry);
        return entry;
      })
      .finally(() => {
        if (this.pending.get(key) === p) this.pending.delete(key);
      });
    this.pending.set(key, p);
    return p;
  }
}
