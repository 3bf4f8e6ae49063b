/**
 * Authorization of a POST, message by message (SPEC §4): each message is
 * classified, decided by the policy with the caller's current groups, and
 * audited. What is allowed is forwarded; a denied request is answered by the
 * gateway (-32003, or 403 with an insufficient_scope challenge); nothing
 * denied ever reaches the upstream. The result also says what the reply must
 * answer (reply-check.ts).
 */
import { GatewayError, jsonRpcError, JSONRPC } from '../errors/index.js';
import { classify, evaluate, visibility, type Decision, type McpAction, type PolicyGroup, type Visibility } from '../policy/index.js';
import { isRequest, isResponse, type JsonRpcMessage, type JsonRpcResponse, type ParsedBody } from './jsonrpc.js';
import { type McpRequestRecord } from './mcp-audit.js';
import { LIST_KEYS, type Expected, type ReplyPlan } from './reply-check.js';
import { taskScope, type TaskRegistry } from './tasks.js';
import { jsonResponse, type ProxyCaller, type ProxyResponse } from './types.js';

export type Denial = Exclude<Decision, { allow: true }>;

/** What a POST forwards once authorized, and what its reply must answer. */
export interface Forward {
  messages: JsonRpcMessage[];
  plan: ReplyPlan;
  /** An `initialize` is among them (it opens a session). */
  hasInit: boolean;
}

export interface AuthorizeContext {
  caller: ProxyCaller;
  server: string;
  groups: ReadonlyMap<string, PolicyGroup>;
  tasks: TaskRegistry;
  record: McpRequestRecord;
  /** The 403 of a missing scope (with its challenge). */
  denial(d: Denial): GatewayError;
}

export const ALL_VISIBLE: Visibility = { all: true, tool: () => true, resource: () => true, template: () => true, prompt: () => true };

/** The gateway's JSON-RPC answer to a denied request. */
export function denyReply(id: string | number, d: Denial, server: string): JsonRpcResponse {
  const data = { code: d.reason === 'insufficient_scope' ? 'insufficient_scope' : 'forbidden', server, ...(d.scope ? { scope: d.scope } : {}) };
  return jsonRpcError(id, JSONRPC.FORBIDDEN, d.message, data) as JsonRpcResponse;
}

/** A task the caller did not create through the gateway: refused before the policy is asked, admins included. */
const unknownTask = (a: McpAction & { kind: 'task' }): Denial => ({
  allow: false,
  reason: 'no_grant',
  message: `Access to task ${a.taskId.slice(0, 256)} on MCP server ${a.server} is denied`,
});

/** Decide one message: the policy's decision, with tasks resolved to the tool that created them. */
function decide(ctx: AuthorizeContext, action: McpAction): Decision {
  if (action.kind !== 'task') return evaluate(ctx.caller, ctx.groups, action);
  const tool = ctx.tasks.toolOf(ctx.server, ctx.caller.id, action.taskId);
  if (tool === null) return unknownTask(action);
  return evaluate(ctx.caller, ctx.groups, { ...action, tool });
}

/**
 * Authorize every message of a POST (each audited in `ctx.record`): the
 * gateway's own answer when nothing is to be forwarded or a single message is
 * refused, else what to forward.
 */
export function authorizePost(ctx: AuthorizeContext, parsed: ParsedBody): ProxyResponse | Forward {
  const gatewayReplies: JsonRpcResponse[] = [];
  const forward: JsonRpcMessage[] = [];
  const pending = new Map<string | number, Expected>();
  let lists = false;
  let tasks = false;
  let hasInit = false;
  for (const m of parsed.messages) {
    const response = isResponse(m);
    const method = response ? undefined : (m as { method: string }).method;
    const params = response ? undefined : (m as { params?: Record<string, unknown> }).params;
    let action = classify(ctx.server, method, params);
    const d = decide(ctx, action);
    if (action.kind === 'task' && d.allow) action = { ...action, tool: ctx.tasks.toolOf(ctx.server, ctx.caller.id, action.taskId) };
    ctx.record.addAction(method ?? '(response)', action, d.allow);
    if (d.allow) {
      forward.push(m);
      if (isRequest(m)) {
        const exp: Expected = { method: m.method };
        const list = LIST_KEYS[m.method];
        if (list !== undefined) {
          exp.list = list;
          lists = true;
          if (list === 'tasks') tasks = true;
        } else if (action.kind === 'tool' && params?.task !== undefined) {
          exp.taskTool = action.name;
          tasks = true;
        }
        pending.set(m.id, exp);
        if (m.method === 'initialize') hasInit = true;
      }
      continue;
    }
    if (!parsed.batch) {
      if (isRequest(m) && d.reason !== 'insufficient_scope') return jsonResponse(200, denyReply(m.id, d, ctx.server));
      throw ctx.denial(d);
    }
    if (isRequest(m)) gatewayReplies.push(denyReply(m.id, d, ctx.server));
    // denied notifications and responses inside a batch are dropped
  }

  if (forward.length === 0) return gatewayReplies.length ? jsonResponse(200, gatewayReplies) : { status: 202, headers: {}, body: null };
  const v = lists ? visibility(ctx.caller, ctx.groups, ctx.server) : ALL_VISIBLE;
  const plan: ReplyPlan = { mode: 'post', pending, visibility: v, tasks: tasks ? taskScope(ctx.tasks, ctx.server, ctx.caller.id, v) : null, gatewayReplies };
  return { messages: forward, plan, hasInit };
}
