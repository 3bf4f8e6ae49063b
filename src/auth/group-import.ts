/**
 * Parse a group definition document (already decoded from YAML or JSON) into
 * validated group definitions. Two formats are accepted, per item:
 *
 * - ours:  `{ name, description?, grants: [{ server, tools, access_level }] }`
 * - seed:  `{ scope_name, description?, servers: [{ server_name, tools, access_level }] }`
 *
 * The document is one group, a list of groups, or `{ groups: [...] }` (the
 * config-file shape). Every problem is reported with its path, e.g.
 * `[1].servers[0].access_level: ...`.
 */
import { z } from 'zod';
import { formatPath, formatZodIssues } from '../config/load.js';
import { groupName, groupSchema, serverName, type GroupDef } from '../config/schema.js';
import { GroupImportError } from './group-admin.js';

const seedServer = z.strictObject({
  server_name: z.union([serverName(), z.literal('*')]),
  /** A single name/glob is accepted as a one-element list. */
  tools: z.union([z.string().min(1).max(256).transform((t) => [t]), z.array(z.string().min(1).max(256)).min(1)]),
  access_level: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['read', 'execute'])),
});

const seedGroup = z.strictObject({
  scope_name: groupName(),
  description: z.string().max(1000).default(''),
  servers: z.array(seedServer).default([]),
});

type Item = { value: unknown; path: (string | number)[] };

function items(doc: unknown): Item[] {
  if (Array.isArray(doc)) return doc.map((value, i) => ({ value, path: [i] }));
  if (doc && typeof doc === 'object' && !('name' in doc) && !('scope_name' in doc) && Array.isArray((doc as { groups?: unknown }).groups)) {
    const extra = Object.keys(doc).filter((k) => k !== 'groups');
    if (extra.length) throw new GroupImportError(extra.map((k) => `${k}: unknown key`));
    return ((doc as { groups: unknown[] }).groups).map((value, i) => ({ value, path: ['groups', i] }));
  }
  return [{ value: doc, path: [] }];
}

export function parseGroupDocument(doc: unknown): GroupDef[] {
  if (doc === null || doc === undefined || (typeof doc !== 'object')) throw new GroupImportError(['(root): must be a group, a list of groups, or {groups: [...]}']);
  const list = items(doc);
  if (list.length === 0) throw new GroupImportError(['(root): no groups to import']);
  const problems: string[] = [];
  const out: GroupDef[] = [];
  const seen = new Map<string, string>();
  for (const { value, path } of list) {
    const where = formatPath(path);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${where}: must be a group object`);
      continue;
    }
    const seed = 'scope_name' in value;
    const rawName = (value as Record<string, unknown>)[seed ? 'scope_name' : 'name'];
    if (typeof rawName === 'string') {
      const first = seen.get(rawName);
      if (first !== undefined) problems.push(`${formatPath([...path, seed ? 'scope_name' : 'name'])}: duplicate group name ${rawName} (also at ${first})`);
      else seen.set(rawName, where);
    }
    const r = seed ? seedGroup.safeParse(value) : groupSchema.safeParse(value);
    if (!r.success) {
      problems.push(...formatZodIssues(r.error.issues.map((i) => ({ ...i, path: [...path, ...i.path] }))));
      continue;
    }
    const def: GroupDef = seed
      ? (() => {
          const s = r.data as z.output<typeof seedGroup>;
          return { name: s.scope_name, description: s.description, grants: s.servers.map((g) => ({ server: g.server_name, tools: g.tools, access_level: g.access_level })) };
        })()
      : (r.data as GroupDef);
    out.push(def);
  }
  if (problems.length) throw new GroupImportError(problems);
  return out;
}
