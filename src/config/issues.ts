/**
 * Turning schema issues into problems a person can act on: every problem
 * names its path, an unknown key names the nearest known key
 * (`servers[0].comand: unknown key; did you mean command?`), and messages
 * say what to write rather than what the parser expected.
 */
import { type z } from 'zod';

/** The message of an issue; for a bad record key, the key's own problem (e.g. `invalid header name`). */
export function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_key' && i.issues.length) return i.issues[0].message;
  return i.message;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

/** Optimal-string-alignment distance (edits, with adjacent transpositions counting as one). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The known key a typo most likely meant, if one is close enough. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  const limit = k.length <= 4 ? 1 : k.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of known) {
    const dist = editDistance(k, c.toLowerCase());
    if (dist < bestD && dist <= limit) {
      best = c;
      bestD = dist;
    }
  }
  return best;
}

/** `unknown key` plus the suggestion, when there is one. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = nearestKey(key, known);
  return near ? `unknown key; did you mean ${near}?` : 'unknown key';
}

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; valueType?: z.ZodType };
const defOf = (s: z.ZodType) => (s as unknown as { def: Def }).def;

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const def = defOf(s);
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type) && def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

/** The object schemas reachable at `path` (unions contribute every branch). */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodObject[] {
  let cur: z.ZodType[] = [schema];
  const expand = (list: z.ZodType[]) =>
    list.flatMap((s) => {
      const u = unwrap(s);
      const d = defOf(u);
      return d.type === 'union' && d.options ? d.options.map(unwrap) : [u];
    });
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of expand(cur)) {
      const d = defOf(s);
      if (d.type === 'object' && typeof seg === 'string') {
        const child = (s as z.ZodObject).shape[seg];
        if (child) next.push(child as z.ZodType);
      } else if (d.type === 'array' && typeof seg === 'number' && d.element) next.push(d.element);
      else if (d.type === 'record' && d.valueType) next.push(d.valueType);
    }
    cur = next;
  }
  return expand(cur).filter((s) => defOf(s).type === 'object') as z.ZodObject[];
}

/** Keys the schema knows at `path` (empty when unknown). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  return [...new Set(objectsAt(schema, path).flatMap((o) => Object.keys(o.shape)))];
}

/**
 * One line per problem: `path: message`. With `schema`, unknown keys name
 * the nearest known key. A union's problems are those of the branch that got
 * furthest (fewest issues).
 */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], schema?: z.ZodType, prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      const known = schema ? knownKeysAt(schema, i.path) : [];
      for (const k of i.keys) out.push(`${formatPath([...prefix, ...i.path, k])}: ${unknownKeyMessage(k, known)}`);
    } else if (i.code === 'invalid_union' && i.message !== 'Invalid input') {
      // a union with its own message (what to write) says it better than any branch
      out.push(`${formatPath([...prefix, ...i.path])}: ${i.message}`);
    } else if (i.code === 'invalid_union' && 'errors' in i && Array.isArray(i.errors) && i.errors.length) {
      const best = [...i.errors].sort((a, b) => a.length - b.length)[0];
      out.push(...formatZodIssues(best.map((e) => ({ ...e, path: [...i.path, ...e.path] })), schema, prefix));
    } else {
      out.push(`${formatPath([...prefix, ...i.path])}: ${issueMessage(i)}`);
    }
  }
  return [...new Set(out)];
}
