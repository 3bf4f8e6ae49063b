/**
 * Kubernetes manifest linting without a cluster:
 *  - schema validation (types, enums, required fields) with kubernetes-models'
 *    compiled OpenAPI validators;
 *  - strict field names (what `kubeconform -strict` adds): every key must be a
 *    field of the API type, checked against kubernetes-models' type
 *    declarations, so a typo like `livenesProbe` is caught instead of ignored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const MODELS_ROOT = dirname(require.resolve('kubernetes-models/package.json'));
const NODE_MODULES = dirname(MODELS_ROOT);

/** apiVersion → module path under kubernetes-models. */
function groupPath(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion : `v1/${apiVersion}`.replace(/^v1\/v1$/, 'v1');
}

function declarationFile(apiVersion: string, kind: string): string {
  return join(MODELS_ROOT, groupPath(apiVersion), `${kind}.d.ts`);
}

/** Schema-validate one object; returns the error messages (empty when valid). */
export function validateSchema(obj: { apiVersion: string; kind: string }): string[] {
  const mod = require(`kubernetes-models/${groupPath(obj.apiVersion)}`) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[obj.kind];
  if (!Model) return [`unknown kind ${obj.kind} in ${obj.apiVersion}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

interface Decl {
  props: Map<string, string>;
  imports: Map<string, string>;
  file: string;
}
const declCache = new Map<string, Decl | null>();

function readDecl(file: string): Decl | null {
  if (declCache.has(file)) return declCache.get(file)!;
  if (!existsSync(file)) {
    declCache.set(file, null);
    return null;
  }
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports.set(m[1], m[2]);
  const body = /export interface \w+(?: extends ([\w, ]+))? \{\n([\s\S]*?)\n\}/.exec(text);
  const props = new Map<string, string>();
  if (body) {
    if (body[1]?.includes('TypeMeta')) {
      props.set('apiVersion', 'string');
      props.set('kind', 'string');
    }
    // Top-level members only (4-space indent); a member's type may span lines (inline maps).
    for (const line of body[2].split('\n')) {
      const p = /^ {4}"([^"]+)"\??: (.+?);?$/.exec(line);
      if (p) props.set(p[1], p[2]);
    }
  }
  const d = { props, imports, file };
  declCache.set(file, d);
  return d;
}

function resolveImport(from: Decl, typeName: string): string | null {
  const spec = from.imports.get(typeName);
  if (!spec) return null;
  if (spec.startsWith('.')) return resolve(dirname(from.file), `${spec}.d.ts`);
  return join(NODE_MODULES, `${spec}.d.ts`);
}

/** Keys that are not fields of their API type, as paths (e.g. `spec.template.spec.containers[0].livenesProbe`). */
export function unknownFields(obj: { apiVersion: string; kind: string }): string[] {
  const root = readDecl(declarationFile(obj.apiVersion, obj.kind));
  if (!root) return [`no type declarations for ${obj.apiVersion} ${obj.kind}`];
  const out: string[] = [];
  const walk = (value: unknown, decl: Decl, path: string) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      const where = path ? `${path}.${k}` : k;
      const type = decl.props.get(k);
      if (type === undefined) {
        out.push(where);
        continue;
      }
      const arr = /^Array<(I\w+)>$/.exec(type);
      const single = /^(I\w+)$/.exec(type);
      const name = arr?.[1] ?? single?.[1];
      if (!name) continue; // scalars, literal unions, maps: nothing to descend into
      const file = resolveImport(decl, name);
      const child = file ? readDecl(file) : null;
      if (!child || child.props.size === 0) continue;
      if (arr && Array.isArray(v)) v.forEach((item, i) => walk(item, child, `${where}[${i}]`));
      else if (!arr) walk(v, child, where);
    }
  };
  walk(obj, root, '');
  return out;
}
