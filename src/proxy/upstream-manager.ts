/**
 * Owns every connection to upstream MCP servers: the request and stream pools
 * of each remote server (upstreams/http.ts), legacy SSE connections and stdio
 * processes per session, their counts and caps (per server `max_processes`,
 * per principal `limits.per_principal.stdio_processes`), operator start/stop
 * of stdio servers, and tool discovery. It also carries the proxy's limits
 * (`server.max_batch`, `limits.per_principal`) read from the config.
 */
import { randomUUID } from 'node:crypto';
import { isStdio, type RemoteServerDef, type ServerDef, type StdioServerDef } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { type UpstreamCredentials } from './credentials.js';
import { type JsonRpcResponse } from './jsonrpc.js';
import { DEFAULT_LIMITS, PrincipalCounter, tooManyProcesses, type ProxyLimits } from './principal-caps.js';
import { type ServerRegistry } from './registry.js';
import { SseParser } from './sse.js';
import { type ChannelLogger } from './upstreams/channel.js';
import { HttpUpstream, readBody } from './upstreams/http.js';
import { LegacySseChannel } from './upstreams/legacy-sse.js';
import { StdioChannel } from './upstreams/stdio.js';
import { VirtualSession } from './upstreams/virtual-session.js';

export type UpstreamState = 'up' | 'down' | 'idle' | 'running' | 'stopped';

export interface UpstreamStatus {
  /**
   * Remote servers: `up` (last exchange succeeded), `down` (last exchange
   * failed), `idle` (not contacted yet). stdio servers: `running` (processes
   * alive), `idle` (none alive), `stopped` (stopped by an operator; new
   * sessions refused until started).
   */
  state: UpstreamState;
  /** Open client sessions on this replica. */
  sessions: number;
  /** Live processes (stdio servers only). */
  processes?: number;
}

export interface DiscoveredCatalog {
  protocolVersion: string | null;
  serverInfo: { name?: string; version?: string } | null;
  tools: { name: string; description?: string; [k: string]: unknown }[];
  resources: { uri: string; name?: string; [k: string]: unknown }[];
  resourceTemplates: { uriTemplate: string; name?: string; [k: string]: unknown }[];
  prompts: { name: string; description?: string; [k: string]: unknown }[];
}

/** The protocol revision the gateway speaks when it is the client (discovery). */
export const GATEWAY_PROTOCOL_VERSION = '2025-06-18';
const MAX_PAGES = 50;
const DISCOVERY_BODY_LIMIT = 16 * 1024 * 1024;

export interface UpstreamManagerDeps {
  registry: ServerRegistry;
  childBaseEnv: Readonly<Record<string, string>>;
  logger: ChannelLogger;
  /** Read at use time: the per-user credentials hook may be installed after construction. */
  credentials: () => UpstreamCredentials | null;
  /** `server.max_batch` and `limits.per_principal` (default: the documented defaults). */
  limits?: ProxyLimits;
}

export class UpstreamManager {
  private readonly pools = new Map<string, HttpUpstream>();
  private readonly processes = new Map<string, Set<StdioChannel>>();
  private readonly stopped = new Set<string>();
  private readonly sessionCounts = new Map<string, number>();
  private readonly virtual = new Set<VirtualSession>();
  private readonly unsubscribe: () => void;
  private closed = false;
  /** Identifies this replica in the shared session table. */
  readonly replicaId = randomUUID();
  readonly limits: ProxyLimits;
  /** stdio processes per principal on this replica. */
  private readonly processesOf: PrincipalCounter;

  constructor(private readonly deps: UpstreamManagerDeps) {
    this.limits = deps.limits ?? DEFAULT_LIMITS;
    this.processesOf = new PrincipalCounter(() => this.limits.perPrincipal.stdioProcesses, tooManyProcesses);
    this.unsubscribe = deps.registry.onChange((changes) => {
      for (const c of changes) {
        const pool = this.pools.get(c.name);
        if (pool && c.kind !== 'added') {
          this.pools.delete(c.name);
          void pool.close().catch(() => {});
        }
      }
    });
  }

  private def(name: string): ServerDef {
    const d = this.deps.registry.get(name);
    if (!d) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
    return d;
  }

  /** The keep-alive pool of a remote server (created on first use). */
  http(def: RemoteServerDef): HttpUpstream {
    let p = this.pools.get(def.name);
    if (!p || p.def !== def) {
      if (p) void p.close().catch(() => {});
      p = new HttpUpstream(def);
      this.pools.set(def.name, p);
    }
    return p;
  }

  /**
   * Upstream credentials: the principal's stored headers merged with the
   * server's configured `headers`. The operator's headers win on a name clash
   * (the credentials API refuses such names anyway). Written into `out` when given.
   */
  async upstreamHeaders(def: ServerDef, principalId: string | null, out: Record<string, string> = {}): Promise<Record<string, string>> {
    const hook = this.deps.credentials();
    if (!hook || !principalId) return withServerHeaders(def, null, out);
    // The principal's entry is cached on every warm request: no store round trip.
    const known = hook.cachedHeadersFor(principalId, def.name);
    return withServerHeaders(def, known === undefined ? await hook.headersFor(principalId, def.name) : known, out);
  }

  /**
   * A channel-backed session for a legacy SSE or stdio server. stdio: one new
   * process, refused with 503 when max_processes are running or the server
   * was stopped by an operator, and with 429 when the principal runs its
   * `limits.per_principal.stdio_processes` (the gateway's own sessions,
   * `principalId` null, are not counted).
   */
  async openVirtual(def: ServerDef, principalId: string | null, onClosed: (err?: Error) => void): Promise<VirtualSession> {
    if (this.closed) throw new GatewayError('service_unavailable', { detail: 'The gateway is shutting down' });
    let channel;
    if (isStdio(def)) channel = await this.spawnFor(def, principalId);
    else {
      if (def.transport !== 'sse') throw new TypeError('openVirtual is for sse and stdio servers');
      const http = this.http(def);
      const headers = await this.upstreamHeaders(def, principalId);
      channel = await LegacySseChannel.open(http, headers, this.deps.logger);
    }
    const s = new VirtualSession(channel, {
      server: def.name,
      timeoutMs: def.timeout,
      onClosed: (err) => {
        this.virtual.delete(s);
        onClosed(err);
      },
    });
    this.virtual.add(s);
    return s;
  }

  /** A process of `def` counted against the principal's cap while it runs. */
  private async spawnFor(def: StdioServerDef, principalId: string | null): Promise<StdioChannel> {
    if (principalId === null) return this.spawn(def);
    this.processesOf.acquire(principalId);
    let ch: StdioChannel;
    try {
      ch = await this.spawn(def);
    } catch (e) {
      this.processesOf.release(principalId);
      throw e;
    }
    ch.onCloseHooks.push(() => this.processesOf.release(principalId));
    return ch;
  }

  /** stdio processes the principal runs on this replica. */
  processesOfPrincipal(principalId: string): number {
    return this.processesOf.count(principalId);
  }

  private async spawn(def: StdioServerDef): Promise<StdioChannel> {
    if (this.stopped.has(def.name)) throw new GatewayError('service_unavailable', { detail: `MCP server ${def.name} is stopped` });
    let set = this.processes.get(def.name);
    if (!set) this.processes.set(def.name, (set = new Set()));
    if (set.size >= def.max_processes)
      throw new GatewayError('service_unavailable', { detail: `MCP server ${def.name} has reached its process limit`, headers: { 'Retry-After': '5' } });
    // reserve the slot while spawning so concurrent initializes respect the cap
    const placeholder = {} as StdioChannel;
    set.add(placeholder);
    try {
      const ch = await StdioChannel.spawn(def, this.deps.childBaseEnv, this.deps.logger);
      set.delete(placeholder);
      set.add(ch);
      ch.onCloseHooks.push(() => set!.delete(ch));
      return ch;
    } catch (e) {
      set.delete(placeholder);
      throw e;
    }
  }

  sessionOpened(name: string): void {
    this.sessionCounts.set(name, (this.sessionCounts.get(name) ?? 0) + 1);
  }

  sessionClosed(name: string): void {
    const n = (this.sessionCounts.get(name) ?? 0) - 1;
    if (n > 0) this.sessionCounts.set(name, n);
    else this.sessionCounts.delete(name);
  }

  status(name: string): UpstreamStatus {
    const def = this.def(name);
    const sessions = this.sessionCounts.get(name) ?? 0;
    if (isStdio(def)) {
      const processes = this.processes.get(name)?.size ?? 0;
      const state: UpstreamState = this.stopped.has(name) ? 'stopped' : processes > 0 ? 'running' : 'idle';
      return { state, sessions, processes };
    }
    const ok = this.pools.get(name)?.lastOk ?? null;
    return { state: ok === null ? 'idle' : ok ? 'up' : 'down', sessions };
  }

  /** Allow new sessions of a stdio server again (after stop). */
  async start(name: string): Promise<UpstreamStatus> {
    const def = this.def(name);
    if (!isStdio(def)) throw new GatewayError('conflict', { detail: `MCP server ${name} is remote; only stdio servers can be started and stopped` });
    this.stopped.delete(name);
    return this.status(name);
  }

  /** End every process of a stdio server and refuse new sessions until start. */
  async stop(name: string): Promise<UpstreamStatus> {
    const def = this.def(name);
    if (!isStdio(def)) throw new GatewayError('conflict', { detail: `MCP server ${name} is remote; only stdio servers can be started and stopped` });
    this.stopped.add(name);
    const victims = [...this.virtual].filter((s) => s.channel instanceof StdioChannel && this.processes.get(name)?.has(s.channel));
    await Promise.all(victims.map((s) => s.close()));
    const rest = [...(this.processes.get(name) ?? [])].filter((c) => c instanceof StdioChannel);
    await Promise.all(rest.map((c) => c.close()));
    return this.status(name);
  }

  /**
   * Open a short MCP session of the gateway's own (server `headers`, plus the
   * principal's stored headers when given), list what the upstream offers,
   * and end the session.
   */
  async discover(name: string, principalId: string | null = null): Promise<DiscoveredCatalog> {
    const def = this.def(name);
    if (isStdio(def) || def.transport === 'sse') {
      const vs = await this.openVirtual(def, principalId, () => {});
      try {
        let n = 0;
        return await runDiscovery(async (method, params) => {
          if (params === undefined && method.startsWith('notifications/')) {
            await vs.notify(method);
            return null;
          }
          return vs.request(`pcl-discover-${++n}`, method, params);
        });
      } finally {
        await vs.close();
      }
    }
    const http = this.http(def);
    const base = await this.upstreamHeaders(def, principalId);
    let sessionId: string | undefined;
    let protocol: string | undefined;
    let n = 0;
    try {
      return await runDiscovery(async (method, params) => {
        const headers: Record<string, string> = {
          ...base,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        };
        if (sessionId) headers['mcp-session-id'] = sessionId;
        if (protocol) headers['mcp-protocol-version'] = protocol;
        const notification = method.startsWith('notifications/');
        const id = `pcl-discover-${++n}`;
        const msg = notification ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', id, method, ...(params ? { params } : {}) };
        const res = await http.request({ method: 'POST', headers, body: JSON.stringify(msg) });
        if (method === 'initialize') {
          const sid = res.headers['mcp-session-id'];
          if (typeof sid === 'string') sessionId = sid;
        }
        if (res.status === 401 || res.status === 403) {
          res.body.resume();
          throw new GatewayError('upstream_unavailable', { detail: `MCP server ${name} refused the gateway's credentials` });
        }
        if (notification) {
          res.body.resume();
          return null;
        }
        if (res.status !== 200) {
          res.body.resume();
          throw new GatewayError('upstream_unavailable', { detail: `MCP server ${name} answered ${method} with HTTP ${res.status}` });
        }
        const reply = await responseFromBody(String(res.headers['content-type'] ?? ''), res.body, id);
        if (method === 'initialize' && reply.result && typeof (reply.result as { protocolVersion?: unknown }).protocolVersion === 'string')
          protocol = (reply.result as { protocolVersion: string }).protocolVersion;
        return reply;
      });
    } finally {
      if (sessionId) {
        await http
          .request({ method: 'DELETE', headers: { ...base, 'mcp-session-id': sessionId, ...(protocol ? { 'mcp-protocol-version': protocol } : {}) } })
          .then((r) => r.body.resume())
          .catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    await Promise.all([...this.virtual].map((s) => s.close().catch(() => {})));
    const procs = [...this.processes.values()].flatMap((s) => [...s]).filter((c) => c instanceof StdioChannel);
    await Promise.all(procs.map((c) => c.close()));
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => {})));
    this.pools.clear();
  }
}

type Call = (method: string, params?: Record<string, unknown>) => Promise<JsonRpcResponse | null>;

async function runDiscovery(call: Call): Promise<DiscoveredCatalog> {
  const init = await call('initialize', {
    protocolVersion: GATEWAY_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'portcullis-discovery', version: '1' },
  });
  if (!init || init.error || !init.result) throw new GatewayError('upstream_unavailable', { detail: 'The MCP server refused to initialize' });
  const r = init.result as { protocolVersion?: string; serverInfo?: DiscoveredCatalog['serverInfo']; capabilities?: Record<string, unknown> };
  await call('notifications/initialized');
  const caps = r.capabilities ?? {};
  const out: DiscoveredCatalog = {
    protocolVersion: r.protocolVersion ?? null,
    serverInfo: r.serverInfo ?? null,
    tools: [],
    resources: [],
    resourceTemplates: [],
    prompts: [],
  };
  const pages = async <T>(method: string, key: string, into: T[]) => {
    let cursor: string | undefined;
    for (let i = 0; i < MAX_PAGES; i++) {
      const res = await call(method, cursor ? { cursor } : {});
      if (!res || res.error || !res.result) return;
      const result = res.result as Record<string, unknown>;
      const items = result[key];
      if (Array.isArray(items)) into.push(...(items as T[]));
      cursor = typeof result.nextCursor === 'string' && result.nextCursor ? result.nextCursor : undefined;
      if (!cursor) return;
    }
  };
  if (caps.tools) await pages('tools/list', 'tools', out.tools);
  if (caps.resources) {
    await pages('resources/list', 'resources', out.resources);
    await pages('resources/templates/list', 'resourceTemplates', out.resourceTemplates);
  }
  if (caps.prompts) await pages('prompts/list', 'prompts', out.prompts);
  return out;
}

/** The JSON-RPC response with `id` from a JSON or SSE body. */
async function responseFromBody(contentType: string, body: import('node:stream').Readable, id: string): Promise<JsonRpcResponse> {
  if (contentType.includes('text/event-stream')) {
    const parser = new SseParser();
    for await (const chunk of body) {
      for (const ev of parser.push(chunk as Buffer)) {
        if (!ev.data) continue;
        let m: unknown;
        try {
          m = JSON.parse(ev.data);
        } catch {
          continue;
        }
        if (m && typeof m === 'object' && (m as JsonRpcResponse).id === id && !('method' in m)) {
          body.destroy();
          return m as JsonRpcResponse;
        }
      }
    }
    throw new GatewayError('upstream_unavailable', { detail: 'The MCP server ended the stream without a response' });
  }
  const buf = await readBody(body, DISCOVERY_BODY_LIMIT);
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    const list = Array.isArray(v) ? v : [v];
    const m = list.find((x) => x && typeof x === 'object' && (x as JsonRpcResponse).id === id);
    if (m) return m as JsonRpcResponse;
  } catch {
    /* fall through */
  }
  throw new GatewayError('upstream_unavailable', { detail: 'The MCP server sent an unreadable response' });
}

/** `out` plus the principal's stored headers, then the server's configured ones (which win), names lower-cased. */
function withServerHeaders(def: ServerDef, own: Readonly<Record<string, string>> | null | undefined, out: Record<string, string>): Record<string, string> {
  if (own) for (const k in own) out[k.toLowerCase()] = own[k];
  if (!isStdio(def)) for (const k in def.headers) out[k.toLowerCase()] = def.headers[k];
  return out;
}
