/**
 * When the whole config does not parse, parse it again section by section,
 * and list sections entry by entry, so the checks that come after the schema
 * (cross-references, files, secrets in the environment) still run on every
 * part that is valid: one run reports every problem of the file.
 *
 * Failed list entries stay as `null` holes (their indexes are kept, so later
 * problems name the right entry); failed sections fall back to their
 * defaults and are named in `failed`, so checks that read them are skipped.
 * The result is only used to collect problems, never returned to callers.
 */
import { configSchema, groupSchema, providerSchema, roleDefSchema, serverSchema, type ParsedConfig } from './schema.js';

const LIST_ENTRY = { servers: serverSchema, groups: groupSchema, roles: roleDefSchema } as const;

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function entries(list: unknown, schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }): unknown[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((v) => {
    const r = schema.safeParse(v);
    return r.success ? r.data : null;
  });
}

export function parseLeniently(input: Record<string, unknown>): { cfg: ParsedConfig; failed: Set<string> } {
  const failed = new Set<string>();
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(configSchema.shape)) {
    const r = schema.safeParse(input[key]);
    if (r.success) {
      out[key] = r.data;
      continue;
    }
    failed.add(key);
    if (key in LIST_ENTRY) {
      out[key] = entries(input[key], LIST_ENTRY[key as keyof typeof LIST_ENTRY]) ?? [];
    } else if (key === 'auth' && isObject(input.auth)) {
      const rest = schema.safeParse({ ...input.auth, providers: [] });
      out.auth = rest.success ? rest.data : schema.parse({});
      if (rest.success) failed.delete('auth');
      (out.auth as { providers: unknown[] }).providers = entries(input.auth.providers, providerSchema) ?? [];
      failed.add('auth.providers');
    } else {
      const d = schema.safeParse(undefined);
      out[key] = d.success ? d.data : undefined;
    }
  }
  return { cfg: out as ParsedConfig, failed };
}
