/**
 * What of an upstream's reply reaches the client (SPEC §15). Every message of
 * a reply is parsed and checked before it is relayed, and what is relayed is
 * re-serialized from what was checked:
 *
 * - A response (`result` or `error`) in a POST's reply must answer one of the
 *   requests forwarded in that POST, by id with its JSON type (`"1"` is not
 *   `1`), once. Anything else is refused: the client gets 502, never a reply
 *   meant for another request (an upstream that desynchronizes a pooled
 *   connection cannot hand one caller's crafted bytes to another; requests to
 *   remote upstreams carry ids of the gateway's own, upstream-ids.ts).
 * - A list result is filtered so callers only see what they may use: tools,
 *   resources, resource templates and prompts by the caller's grants, tasks
 *   by who created them (tasks.ts). One that cannot be read is refused.
 * - Server-to-client requests and notifications pass.
 * - On a GET stream (`mode: 'stream'`) the request a response answers is not
 *   known: any result shaped like a list is filtered, and what cannot be read
 *   is dropped.
 */
import { type Visibility } from '../policy/index.js';
import { type JsonRpcResponse } from './jsonrpc.js';
import { clientIdOf } from './upstream-ids.js';

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

/** What the answer to one forwarded request must look like. */
export interface Expected {
  method: string;
  /** The array key of a list request's result (`tools`, `resources`, ...). */
  list?: string;
  /** A task-augmented tools/call: the tool, to record the task its answer creates. */
  taskTool?: string;
  /** The client's id when the request went upstream with the gateway's own (upstream-ids.ts); put back on the answer. */
  clientId?: string | number;
}

/** The caller's tasks on this server (tasks.ts). */
export interface TaskScope {
  /** A task this caller created (the answer of a task-augmented tools/call). */
  created(taskId: string, tool: string, ttlMs: number | null): void;
  /** Whether a listed task is shown to this caller. */
  visible: TaskVisible;
}

export interface ReplyPlan {
  /** `post`: responses must answer `pending`; `stream`: a GET stream, results filtered by shape. */
  mode: 'post' | 'stream';
  /** Requests forwarded and not answered yet, by id (typed: a Map tells "1" from 1). Answered ids are removed. */
  pending: Map<string | number, Expected>;
  visibility: Visibility;
  tasks: TaskScope | null;
  /** Answers the gateway gives itself (denied batch elements), relayed before the upstream's. */
  gatewayReplies: JsonRpcResponse[];
  /**
   * Stream mode on a remote upstream: the key of the session's upstream ids.
   * A response on the stream (a resumed reply) must answer a request of this
   * session; its client id is put back.
   */
  idKey?: string;
}

/** Nesting allowed in upstream messages (tool schemas nest deeper than client requests do). */
export const MAX_REPLY_DEPTH = 256;

const MAX_ID_IN_REASON = 64;
const describeId = (id: unknown) => JSON.stringify(id)?.slice(0, MAX_ID_IN_REASON) ?? String(id);

/**
 * Check one message of an upstream reply. Returns null when it may be relayed
 * (list results filtered in place, created tasks recorded), else why not.
 * `nullIdErrors`: an error with `id: null` (the upstream refused the whole
 * HTTP request) is relayed; only for a 4xx reply.
 */
export function admit(m: unknown, plan: ReplyPlan, nullIdErrors = false): string | null {
  if (!m || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON-RPC message';
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return 'not a JSON-RPC 2.0 message';
  const hasResult = 'result' in o;
  const hasError = 'error' in o;
  if ('method' in o) {
    if (typeof o.method !== 'string' || hasResult || hasError) return 'a malformed request or notification';
    return null;
  }
  if (hasResult === hasError) return 'a response needs exactly one of result and error';
  if (hasError && (!o.error || typeof o.error !== 'object' || Array.isArray(o.error))) return 'a malformed error';
  if (plan.mode === 'stream') {
    if (plan.idKey !== undefined) {
      const clientId = clientIdOf(o.id, plan.idKey);
      if (clientId === undefined) return 'a response to no request of this session';
      o.id = clientId;
    }
    if (hasResult && !filterByShape(o.result, plan.visibility, plan.tasks?.visible ?? null)) return 'an unreadable list result';
    return null;
  }
  const id = o.id;
  if (id === null && hasError && nullIdErrors) return null;
  if (typeof id !== 'string' && typeof id !== 'number') return 'a response without a usable id';
  const exp = plan.pending.get(id);
  if (!exp) return `a response to id ${describeId(id)}, which no request of this exchange has (or it was answered already)`;
  plan.pending.delete(id);
  if (exp.clientId !== undefined) o.id = exp.clientId;
  if (hasError) return null;
  if (exp.list !== undefined && !filterList(o.result, exp.list, plan.visibility, plan.tasks?.visible ?? null)) return `an unreadable ${exp.method} result`;
  if (exp.taskTool !== undefined) recordTask(o.result, exp.taskTool, plan);
  return null;
}

/** Record the task a task-augmented tools/call created (`result.task.taskId`). */
function recordTask(result: unknown, tool: string, plan: ReplyPlan): void {
  const task = result && typeof result === 'object' ? (result as { task?: unknown }).task : undefined;
  if (!task || typeof task !== 'object') return;
  const { taskId, ttl } = task as { taskId?: unknown; ttl?: unknown };
  if (typeof taskId === 'string') plan.tasks?.created(taskId, tool, typeof ttl === 'number' ? ttl : null);
}

/**
 * Check a parsed JSON-RPC value (one message or a batch). Returns null when
 * every message may be relayed, else why not.
 */
export function admitValue(v: unknown, plan: ReplyPlan, nullIdErrors = false): string | null {
  if (!Array.isArray(v)) return admit(v, plan, nullIdErrors);
  if (v.length === 0) return 'an empty batch';
  for (const m of v) {
    const why = admit(m, plan, nullIdErrors);
    if (why) return why;
  }
  return null;
}
