import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { auditUrl } from '../../audit/redact.js';
import { type Principal } from '../../auth/principal.js';
import { type RoleCatalog } from '../../auth/roles.js';
import { type ServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';
import { evaluate, visibility, type PolicyGroup, type PolicySubject } from '../../policy/index.js';
import { validateRuntimeServer, type DiscoveredCatalog, type UpstreamStatus } from '../../proxy/index.js';
import { serverDefinition, serverSummary, transportOf } from '../../proxy/server-view.js';
import { ToolCatalog } from '../../proxy/tool-catalog.js';
import { principalOf } from '../middleware/authenticate.js';

/*
 * /api/v1/servers — the MCP servers behind the gateway.
 *
 * Who sees what (the permission each route needs is in http/access.ts):
 * - a role with `servers:read` (admin, operator, viewer) sees every server,
 *   with its definition (header and env NAMES only, never values), status
 *   and tools;
 * - anyone else sees the servers one of their groups grants anything on,
 *   with status, and the tools their grants match;
 * - `servers:operate` starts, stops and discovers any server (404 only for
 *   unknown ones or outside a credential's server restriction);
 * - a credential restricted to some servers sees only those.
 * Servers a caller may not see are 404, exactly like unknown ones.
 */

const nameOf = (req: FastifyRequest) => (req.params as { name: string }).name;
const unknownServer = (name: string) => new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });

/** The caller's grants without its token scopes: who may see a server is a question of grants, not of mcp:* scopes. */
const grantSubject = (p: Principal): PolicySubject => ({ role: p.role, groups: p.groups, scopes: null, servers: p.servers });

/** Management view: every server, with definitions. */
const isManager = async (roles: RoleCatalog, p: Principal) => (await roles.permissions(p.role)).has('servers:read');

/** True when a grant (or the admin role) lets the principal use the server at least for reading. */
export function mayUse(p: Principal, groups: ReadonlyMap<string, PolicyGroup>, server: string): boolean {
  return evaluate(grantSubject(p), groups, { kind: 'list', server, method: 'tools/list' }).allow;
}

export function maySee(p: Principal, groups: ReadonlyMap<string, PolicyGroup>, server: string, manager: boolean): boolean {
  if (p.servers !== null && !p.servers.includes(server)) return false;
  return manager || mayUse(p, groups, server);
}

/** The server, if it exists and the caller may see it; 404 otherwise. */
export async function visibleServer(s: Services, p: Principal, name: string): Promise<ServerDef> {
  await s.registry.ready();
  const def = s.registry.get(name);
  if (!def || !maySee(p, await s.cache.groupMap(), name, await isManager(s.roles, p))) throw unknownServer(name);
  return def;
}

/** For servers:operate (checked by the route guard): any server, within the credential's server restriction; 404 otherwise. */
async function operableServer(s: Services, p: Principal, name: string): Promise<ServerDef> {
  await s.registry.ready();
  const def = s.registry.get(name);
  if (!def || (p.servers !== null && !p.servers.includes(name))) throw unknownServer(name);
  return def;
}

function serverView(s: Services, def: ServerDef, status: UpstreamStatus | null, detailed: boolean) {
  const base = { ...serverSummary(def, s.registry.source(def.name) ?? 'config', s.config.server.public_url), status };
  return detailed ? { ...base, ...serverDefinition(def) } : base;
}

function statusOf(s: Services, name: string): UpstreamStatus | null {
  try {
    return s.upstreams.status(name);
  } catch {
    return null;
  }
}

function catalogView(c: DiscoveredCatalog) {
  return {
    protocol_version: c.protocolVersion,
    server_info: c.serverInfo,
    tools: c.tools,
    resources: c.resources,
    resource_templates: c.resourceTemplates,
    prompts: c.prompts,
  };
}

/** Make the registry reflect a store change at once on this replica (other replicas follow the bus event). */
async function applied(s: Services, name: string, present: boolean): Promise<void> {
  s.bus.publish({ kind: 'servers' });
  await s.registry.ready();
  if ((s.registry.source(name) === 'api') !== present) await s.registry.reload();
}

function runtimeDefinition(body: unknown, nameFromPath?: string): { def: ServerDef; input: Record<string, unknown> } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new GatewayError('validation_failed', { detail: 'The body must be a JSON object', errors: [{ field: '(body)', message: 'must be a JSON object' }] });
  const input = { ...(body as Record<string, unknown>) };
  if (nameFromPath !== undefined) {
    if (input.name !== undefined && input.name !== nameFromPath)
      throw new GatewayError('validation_failed', {
        detail: 'Invalid name: must match the server name in the path (servers cannot be renamed)',
        errors: [{ field: 'name', message: 'must match the server name in the path (servers cannot be renamed)' }],
      });
    input.name = nameFromPath;
  }
  const v = validateRuntimeServer(input);
  if (!v.ok) throw new GatewayError('validation_failed', { detail: `Invalid ${v.issues[0].field}: ${v.issues[0].message}`, errors: v.issues });
  return { def: v.server, input };
}

export async function serverRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const catalog = new ToolCatalog(s.upstreams, s.registry, () => s.credentials);
  s.onClose(() => catalog.close());
  const authed = { onRequest: s.authenticate };
  const admin = { onRequest: s.authenticate };
  const operator = { onRequest: s.authenticate };
  const audit = (req: FastifyRequest, action: 'server.create' | 'server.update' | 'server.delete' | 'server.start' | 'server.stop' | 'server.discover', server: string, status: number, detail?: Record<string, unknown>) => {
    const p = principalOf(req);
    s.audit.record({ action, actor: p.id, actorType: p.type, tokenId: p.tokenId, server, ip: req.ip, status, detail: detail ?? null });
  };

  app.get('/api/v1/servers', authed, async (req) => {
    const p = principalOf(req);
    await s.registry.ready();
    const groups = await s.cache.groupMap();
    const manager = await isManager(s.roles, p);
    const servers = s.registry
      .list()
      .filter((d) => maySee(p, groups, d.name, manager))
      .map((d) => serverView(s, d, statusOf(s, d.name), manager));
    return { servers };
  });

  app.get('/api/v1/servers/:name', authed, async (req) => {
    const p = principalOf(req);
    const def = await visibleServer(s, p, nameOf(req));
    return serverView(s, def, statusOf(s, def.name), await isManager(s.roles, p));
  });

  app.get('/api/v1/servers/:name/tools', authed, async (req) => {
    const p = principalOf(req);
    const def = await visibleServer(s, p, nameOf(req));
    const groups = await s.cache.groupMap();
    const entry = await catalog.get(def.name, p.id);
    // Management roles see the whole catalog; users see what their grants match.
    const vis = (await isManager(s.roles, p)) ? null : visibility(grantSubject(p), groups, def.name);
    const tools = entry.catalog.tools
      .filter((t) => vis === null || vis.tool(t.name))
      .map((t) => ({
        ...t,
        // What this credential could do with the tool through /mcp: grants and token scopes both apply.
        access: evaluate(p, groups, { kind: 'tool', server: def.name, method: 'tools/call', name: t.name }).allow
          ? ('execute' as const)
          : visibility(p, groups, def.name).tool(t.name)
            ? ('read' as const)
            : ('none' as const),
      }));
    return { server: def.name, discovered_at: entry.discoveredAt, tools };
  });

  app.post('/api/v1/servers', admin, async (req, reply) => {
    const { def, input } = runtimeDefinition(req.body);
    await s.registry.ready();
    if (s.registry.source(def.name) === 'config') throw new GatewayError('conflict', { detail: `A server named ${def.name} is defined in the config file` });
    const created = await s.store.servers.create(def.name, input);
    if (created === 'conflict') throw new GatewayError('conflict', { detail: `A server named ${def.name} already exists` });
    await applied(s, def.name, true);
    audit(req, 'server.create', def.name, 201, { transport: transportOf(def), url: 'url' in def ? auditUrl(def.url) : null });
    const now = s.registry.get(def.name) ?? def;
    return reply.code(201).send(serverView(s, now, statusOf(s, def.name), true));
  });

  app.put('/api/v1/servers/:name', admin, async (req) => {
    const name = nameOf(req);
    await s.registry.ready();
    const source = s.registry.source(name);
    if (source === 'config') throw new GatewayError('read_only', { detail: `MCP server ${name} is defined in the config file` });
    const { def, input } = runtimeDefinition(req.body, name);
    const updated = await s.store.servers.update(name, input);
    if (!updated) throw unknownServer(name);
    await applied(s, name, true);
    audit(req, 'server.update', name, 200, { transport: transportOf(def), url: 'url' in def ? auditUrl(def.url) : null });
    return serverView(s, s.registry.get(name) ?? def, statusOf(s, name), true);
  });

  app.delete('/api/v1/servers/:name', admin, async (req, reply) => {
    const name = nameOf(req);
    await s.registry.ready();
    if (s.registry.source(name) === 'config') throw new GatewayError('read_only', { detail: `MCP server ${name} is defined in the config file` });
    if (!(await s.store.servers.delete(name))) throw unknownServer(name);
    const dropped = await s.userCredentials.deleteForServer(name);
    await applied(s, name, false);
    catalog.forget(name);
    audit(req, 'server.delete', name, 204, dropped ? { credentials_deleted: dropped } : undefined);
    return reply.code(204).send();
  });

  for (const op of ['start', 'stop'] as const) {
    app.post(`/api/v1/servers/:name/${op}`, operator, async (req) => {
      const def = await operableServer(s, principalOf(req), nameOf(req));
      const status = op === 'start' ? await s.upstreams.start(def.name) : await s.upstreams.stop(def.name);
      audit(req, op === 'start' ? 'server.start' : 'server.stop', def.name, 200);
      return { name: def.name, status };
    });
  }

  app.post('/api/v1/servers/:name/discover', operator, async (req) => {
    const def = await operableServer(s, principalOf(req), nameOf(req));
    try {
      const entry = await catalog.refresh(def.name, null);
      audit(req, 'server.discover', def.name, 200, { tools: entry.catalog.tools.length });
      return { name: def.name, discovered_at: entry.discoveredAt, ...catalogView(entry.catalog) };
    } catch (e) {
      audit(req, 'server.discover', def.name, e instanceof GatewayError ? e.status : 500);
      throw e;
    }
  });
}
