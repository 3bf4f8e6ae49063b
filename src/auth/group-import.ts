/**
 * Parse a group definition document (already decoded from YAML or JSON) into
 * validated group definitions. Two formats are accepted, per item:
 *
 * - ours:  `{ name, description?, grants: [{ server, tools, access_level }] }`
 * - seed:  `{ scope_name, description?, servers: [{ server_name, tools, access_level }] }`
 *   (MCP Gateway Registry group files), also with `_id` for the name and
 *   `server_access: [{ server, methods, tools }]`, which becomes a grant:
 *   `execute` when `methods` lists a call (`tools/call`, `resources/read`,
 *   `prompts/get`, `completion/complete`), `read` otherwise.
 *   Keys that only mean something to the registry (`create_in_idp`,
 *   `group_mappings`, `ui_permissions`, `agent_access`, agent entries of
 *   `server_access`) are accepted and reported as not applicable.
 *
 * The document is one group, a list of groups, or `{ groups: [...] }` (the
 * config-file shape). Every problem is reported with its path, e.g.
 * `[1].servers[0].access_level: ...`.
 */
import { z } from 'zod';
import { formatPath, formatZodIssues } from '../config/load.js';
import { groupName, groupSchema, serverName, type GroupDef } from '../config/schema.js';
import { GroupImportError } from './group-admin.js';

/** Seed keys with no meaning here, and why. */
export const SEED_ONLY_KEYS: Readonly<Record<string, string>> = Object.freeze({
  create_in_idp: 'Portcullis keeps its own groups; there is no IdP group to create (map IdP groups with claims.groups)',
  group_mappings: 'a principal is in a group when its group list names it (claims.groups for external identities)',
  ui_permissions: 'the registry web UI permissions have no Portcullis equivalent (see roles)',
  agent_access: 'A2A agents are not served by Portcullis',
});

const CALLS = ['tools/call', 'resources/read', 'prompts/get', 'completion/complete'];

const tools = z.union([z.string().min(1).max(256).transform((t) => [t]), z.array(z.string().min(1).max(256)).min(1)]);
const serverRef = z.string().transform((s) => s.replace(/^\/+|\/+$/g, '')).pipe(z.union([serverName(), z.literal('*')]));

const seedServer = z.strictObject({
  server_name: z.union([serverName(), z.literal('*')]),
  /** A single name/glob is accepted as a one-element list. */
  tools,
  access_level: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['read', 'execute'])),
});

const seedAccess = z.strictObject({ server: serverRef, methods: z.array(z.string().max(100)).default([]), tools });

const seedGroup = z.strictObject({
  scope_name: groupName().optional(),
  _id: groupName().optional(),
  description: z.string().max(1000).default(''),
  servers: z.array(seedServer).default([]),
  server_access: z.array(z.unknown()).default([]),
  ...Object.fromEntries(Object.keys(SEED_ONLY_KEYS).map((k) => [k, z.unknown().optional()])),
});

type Item = { value: unknown; path: (string | number)[] };

function items(doc: unknown): Item[] {
  if (Array.isArray(doc)) return doc.map((value, i) => ({ value, path: [i] }));
  if (doc && typeof doc === 'object' && !('name' in doc) && !('scope_name' in doc) && !('_id' in doc) && Array.isArray((doc as { groups?: unknown }).groups)) {
    const extra = Object.keys(doc).filter((k) => k !== 'groups');
    if (extra.length) throw new GroupImportError(extra.map((k) => `${k}: unknown key`));
    return (doc as { groups: unknown[] }).groups.map((value, i) => ({ value, path: ['groups', i] }));
  }
  return [{ value: doc, path: [] }];
}

const isSeed = (v: object) => 'scope_name' in v || '_id' in v || 'servers' in v || 'server_access' in v || Object.keys(SEED_ONLY_KEYS).some((k) => k in v);

export interface GroupDocument {
  groups: GroupDef[];
  /** Seed keys that were accepted but mean nothing here, with their path and why. */
  notApplicable: string[];
}

/** One seed item → a group definition, or problems. */
function fromSeed(value: object, path: (string | number)[], problems: string[], notApplicable: string[]): GroupDef | undefined {
  const r = seedGroup.safeParse(value);
  if (!r.success) {
    problems.push(...formatZodIssues(r.error.issues, seedGroup, path));
    return undefined;
  }
  const s = r.data;
  const name = s.scope_name ?? s._id;
  if (!name) {
    problems.push(`${formatPath([...path, 'scope_name'])}: required (the group name)`);
    return undefined;
  }
  for (const k of Object.keys(SEED_ONLY_KEYS)) if (k in value) notApplicable.push(`${formatPath([...path, k])}: not applicable: ${SEED_ONLY_KEYS[k]}`);
  const grants: GroupDef['grants'] = s.servers.map((g) => ({ server: g.server_name, tools: g.tools, access_level: g.access_level }));
  s.server_access.forEach((entry, j) => {
    const where = [...path, 'server_access', j];
    if (entry && typeof entry === 'object' && !Array.isArray(entry) && 'agents' in entry && !('server' in entry)) {
      notApplicable.push(`${formatPath(where)}: not applicable: ${SEED_ONLY_KEYS.agent_access}`);
      return;
    }
    const a = seedAccess.safeParse(entry);
    if (!a.success) problems.push(...formatZodIssues(a.error.issues, seedAccess, where));
    else grants.push({ server: a.data.server, tools: a.data.tools, access_level: a.data.methods.some((m) => CALLS.includes(m)) ? 'execute' : 'read' });
  });
  return { name, description: s.description, grants };
}

/** Groups and the seed keys that were accepted but do not apply. Throws GroupImportError listing every problem. */
export function readGroupDocument(doc: unknown): GroupDocument {
  if (doc === null || doc === undefined || typeof doc !== 'object') throw new GroupImportError(['(root): must be a group, a list of groups, or {groups: [...]}']);
  const list = items(doc);
  if (list.length === 0) throw new GroupImportError(['(root): no groups to import']);
  const problems: string[] = [];
  const notApplicable: string[] = [];
  const out: GroupDef[] = [];
  const seen = new Map<string, string>();
  for (const { value, path } of list) {
    const where = formatPath(path);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${where}: must be a group object`);
      continue;
    }
    const seed = isSeed(value) && !('name' in value);
    const nameKey = seed ? ('scope_name' in value ? 'scope_name' : '_id') : 'name';
    const rawName = (value as Record<string, unknown>)[nameKey];
    if (typeof rawName === 'string') {
      const first = seen.get(rawName);
      if (first !== undefined) problems.push(`${formatPath([...path, nameKey])}: duplicate group name ${rawName} (also at ${first})`);
      else seen.set(rawName, where);
    }
    if (seed) {
      const def = fromSeed(value, path, problems, notApplicable);
      if (def) out.push(def);
      continue;
    }
    const r = groupSchema.safeParse(value);
    if (!r.success) problems.push(...formatZodIssues(r.error.issues, groupSchema, path));
    else out.push(r.data);
  }
  if (problems.length) throw new GroupImportError(problems);
  return { groups: out, notApplicable };
}

/** The group definitions of a document (see readGroupDocument). */
export function parseGroupDocument(doc: unknown): GroupDef[] {
  return readGroupDocument(doc).groups;
}
