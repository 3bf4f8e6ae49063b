/**
 * Group administration: list, get, create, update, delete and bulk import.
 * Groups defined in the config file (source `config`) are read-only here.
 * Every change publishes a `groups` event, so the identity cache reloads the
 * grants before the next request is authorized.
 */
import { z } from 'zod';
import { grantSchema, groupName, groupSchema, type GroupDef } from '../config/schema.js';
import { GatewayError } from '../errors/index.js';
import { type GroupRecord } from '../store/index.js';
import { auditActor, type AdminDeps, type Caller } from './admin.js';

export const createGroupSchema = groupSchema;

/** PUT body: fields left out keep their current value; `name`, if given, must match the path. */
export const updateGroupSchema = z.strictObject({
  name: groupName().optional(),
  description: z.string().max(1000).optional(),
  grants: z.array(grantSchema).optional(),
});
export type UpdateGroupInput = z.output<typeof updateGroupSchema>;

export interface GroupView {
  name: string;
  description: string;
  grants: GroupDef['grants'];
  source: 'config' | 'api';
  created_at: string;
  updated_at: string;
}

export const groupView = (g: GroupRecord): GroupView => ({
  name: g.name,
  description: g.description,
  grants: g.grants,
  source: g.source,
  created_at: g.createdAt,
  updated_at: g.updatedAt,
});

export interface ImportResult {
  created: string[];
  updated: string[];
}

const notFound = (name: string) => new GatewayError('not_found', { detail: `No group ${name}` });
const readOnly = (name: string) =>
  new GatewayError('read_only', { detail: `Group ${name} is defined in the config file; change it there` });

export class GroupAdminService {
  constructor(private readonly deps: AdminDeps) {}

  async list(): Promise<GroupView[]> {
    return (await this.deps.store.groups.list()).map(groupView);
  }

  async get(name: string): Promise<GroupView> {
    const g = await this.deps.store.groups.get(name);
    if (!g) throw notFound(name);
    return groupView(g);
  }

  async create(c: Caller, def: GroupDef): Promise<GroupView> {
    const r = await this.deps.store.groups.create(def, 'api');
    if (r === 'conflict') {
      const existing = await this.deps.store.groups.get(def.name);
      if (existing?.source === 'config') throw readOnly(def.name);
      throw new GatewayError('conflict', { detail: `Group ${def.name} already exists` });
    }
    this.changed(c, 'group.create', 201, { group: r.name, grants: r.grants.length });
    return groupView(r);
  }

  async update(c: Caller, name: string, input: UpdateGroupInput): Promise<GroupView> {
    if (input.name !== undefined && input.name !== name)
      throw new GatewayError('validation_failed', {
        detail: 'Invalid name: must match the group name in the path (groups cannot be renamed)',
        errors: [{ field: 'name', message: 'must match the group name in the path (groups cannot be renamed)' }],
      });
    const cur = await this.deps.store.groups.get(name);
    if (!cur) throw notFound(name);
    if (cur.source === 'config') throw readOnly(name);
    const r = await this.deps.store.groups.update(name, { description: input.description, grants: input.grants });
    if (!r) throw notFound(name);
    this.changed(c, 'group.update', 200, { group: name, changed: Object.keys(input).filter((k) => k !== 'name') });
    return groupView(r);
  }

  async delete(c: Caller, name: string): Promise<void> {
    const cur = await this.deps.store.groups.get(name);
    if (!cur) throw notFound(name);
    if (cur.source === 'config') throw readOnly(name);
    if (!(await this.deps.store.groups.delete(name))) throw notFound(name);
    this.changed(c, 'group.delete', 204, { group: name });
  }

  /**
   * Upsert validated definitions (source `api`). All or nothing: when any of
   * them collides with a config-file group, nothing is written and every
   * collision is reported.
   */
  async import(c: Caller, defs: readonly GroupDef[]): Promise<ImportResult> {
    const existing = new Map((await this.deps.store.groups.list()).map((g) => [g.name, g]));
    const problems = defs.flatMap((d, i) =>
      existing.get(d.name)?.source === 'config' ? [`[${i}].name: group ${d.name} is defined in the config file (read-only)`] : [],
    );
    if (problems.length) throw new GroupImportError(problems);
    const result: ImportResult = { created: [], updated: [] };
    for (const d of defs) {
      await this.deps.store.groups.upsert(d, 'api');
      (existing.has(d.name) ? result.updated : result.created).push(d.name);
    }
    this.changed(c, 'group.import', 200, { created: result.created, updated: result.updated });
    return result;
  }

  private changed(c: Caller, action: 'group.create' | 'group.update' | 'group.delete' | 'group.import', status: number, detail: Record<string, unknown>): void {
    this.deps.bus.publish({ kind: 'groups' });
    this.deps.audit.record({ action, ...auditActor(c), status, detail });
  }
}

/** A group file that cannot be imported; `problems` name each offending path. */
export class GroupImportError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid group definitions:\n  ${problems.join('\n  ')}`);
    this.name = 'GroupImportError';
  }
}
