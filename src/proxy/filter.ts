/**
 * List results, filtered so callers only see what they may use: tools,
 * resources, resource templates and prompts by the caller's grants, tasks by
 * who created them (tasks.ts). A list the gateway cannot read is never
 * relayed unfiltered: the caller of `filterList` refuses it.
 */
import { type Visibility } from '../policy/index.js';

/** List methods → the key of the array in their result. */
export const LIST_KEYS: Readonly<Record<string, string>> = {
  'tools/list': 'tools',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
  'prompts/list': 'prompts',
  'tasks/list': 'tasks',
};

/** Every list key: a result with one of these at its top level is a list result (GET streams are filtered by shape). */
export const LIST_RESULT_KEYS: readonly string[] = Object.values(LIST_KEYS);

/** Whether the caller may see one listed task (a task it created through the gateway, whose tool it may still see). */
export type TaskVisible = (taskId: string) => boolean;

function keep(key: string, item: unknown, v: Visibility, taskVisible: TaskVisible | null): boolean {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return false;
  const o = item as Record<string, unknown>;
  switch (key) {
    case 'tools':
      return typeof o.name === 'string' && v.tool(o.name);
    case 'resources':
      return typeof o.uri === 'string' && v.resource(o.uri);
    case 'resourceTemplates':
      return typeof o.uriTemplate === 'string' && v.template(o.uriTemplate);
    case 'prompts':
      return typeof o.name === 'string' && v.prompt(o.name);
    case 'tasks':
      return typeof o.taskId === 'string' && taskVisible !== null && taskVisible(o.taskId);
  }
  return false;
}

/**
 * Filter the `key` list of one result in place. Returns false when the result
 * is not a readable list (not an object, or `key` not an array): the caller
 * refuses it. Admins see every tool, resource and prompt, but only their own tasks.
 */
export function filterList(result: unknown, key: string, v: Visibility, taskVisible: TaskVisible | null): boolean {
  if (!result || typeof result !== 'object' || Array.isArray(result)) return false;
  const r = result as Record<string, unknown>;
  const items = r[key];
  if (!Array.isArray(items)) return false;
  if (v.all && key !== 'tasks') return true;
  let kept: unknown[] | null = null;
  for (let i = 0; i < items.length; i++) {
    const ok = keep(key, items[i], v, taskVisible);
    if (!ok && kept === null) kept = items.slice(0, i);
    else if (ok && kept !== null) kept.push(items[i]);
  }
  if (kept !== null) r[key] = kept;
  return true;
}

/**
 * Filter every list found at the top level of a result (GET streams, where the
 * request a response answers is not known). False when one of them is not an
 * array (the event is dropped).
 */
export function filterByShape(result: unknown, v: Visibility, taskVisible: TaskVisible | null): boolean {
  if (!result || typeof result !== 'object' || Array.isArray(result)) return true;
  for (const key of LIST_RESULT_KEYS) if (key in (result as object) && !filterList(result, key, v, taskVisible)) return false;
  return true;
}
