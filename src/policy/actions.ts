/**
 * What an MCP message asks to do, derived from its method and params. The
 * table here is the gateway's authorization contract for MCP methods; it is
 * documented in docs/authorization.md.
 */
export type AccessLevel = 'read' | 'execute';

export type CompletionRef = { type: 'prompt'; name: string } | { type: 'resource'; uri: string };

export type McpAction =
  /** initialize, ping, notifications/*, logging/setLevel, client responses: any grant on the server. */
  | { kind: 'session'; server: string; method: string }
  /** tools/list, resources/list, resources/templates/list, prompts/list, tasks/list: any grant; results filtered. */
  | { kind: 'list'; server: string; method: string }
  | { kind: 'tool'; server: string; method: string; name: string }
  /** resources/read (execute), resources/subscribe|unsubscribe (read). */
  | { kind: 'resource'; server: string; method: string; uri: string; level: AccessLevel }
  | { kind: 'prompt'; server: string; method: string; name: string }
  | { kind: 'completion'; server: string; method: string; ref: CompletionRef }
  /**
   * tasks/get (read), tasks/result and tasks/cancel (execute) on one task:
   * a grant of that level on the server covering `tool`, the tool whose call
   * created the task. The proxy fills `tool` in from its record of the tasks
   * the caller created, and refuses a task it has no record of before the
   * policy is asked (src/proxy/tasks.ts).
   */
  | { kind: 'task'; server: string; method: string; level: AccessLevel; taskId: string; tool: string | null }
  /** Malformed params for a method the policy must inspect: always denied. */
  | { kind: 'invalid'; server: string; method: string; why: string }
  /** Any other method: admins only. */
  | { kind: 'unknown'; server: string; method: string };

const LIST_METHODS = new Set(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'tasks/list']);
const SESSION_METHODS = new Set(['initialize', 'ping', 'logging/setLevel']);

const str = (v: unknown, max = 4096): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);

/** Classify one client-to-server message. `method` undefined = a client response to a server request. */
export function classify(server: string, method: string | undefined, params: unknown): McpAction {
  if (method === undefined) return { kind: 'session', server, method: '(response)' };
  if (SESSION_METHODS.has(method) || method.startsWith('notifications/')) return { kind: 'session', server, method };
  if (LIST_METHODS.has(method)) return { kind: 'list', server, method };
  const p = (params && typeof params === 'object' ? params : {}) as Record<string, unknown>;
  switch (method) {
    case 'tools/call': {
      const name = str(p.name, 256);
      return name ? { kind: 'tool', server, method, name } : { kind: 'invalid', server, method, why: 'params.name is required' };
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const uri = str(p.uri, 8192);
      if (!uri) return { kind: 'invalid', server, method, why: 'params.uri is required' };
      return { kind: 'resource', server, method, uri, level: method === 'resources/read' ? 'execute' : 'read' };
    }
    case 'prompts/get': {
      const name = str(p.name, 256);
      return name ? { kind: 'prompt', server, method, name } : { kind: 'invalid', server, method, why: 'params.name is required' };
    }
    case 'completion/complete': {
      const ref = (p.ref && typeof p.ref === 'object' ? p.ref : {}) as Record<string, unknown>;
      if (ref.type === 'ref/prompt') {
        const name = str(ref.name, 256);
        if (name) return { kind: 'completion', server, method, ref: { type: 'prompt', name } };
      } else if (ref.type === 'ref/resource') {
        const uri = str(ref.uri, 8192);
        if (uri) return { kind: 'completion', server, method, ref: { type: 'resource', uri } };
      }
      return { kind: 'invalid', server, method, why: 'params.ref must name a prompt or a resource' };
    }
    case 'tasks/get':
    case 'tasks/result':
    case 'tasks/cancel': {
      const taskId = str(p.taskId, 1024);
      if (!taskId) return { kind: 'invalid', server, method, why: 'params.taskId is required' };
      return { kind: 'task', server, method, level: method === 'tasks/get' ? 'read' : 'execute', taskId, tool: null };
    }
  }
  return { kind: 'unknown', server, method };
}

/** The scope a token needs for the action (mcp:execute implies mcp:read). */
export function requiredScope(a: McpAction): 'mcp:read' | 'mcp:execute' {
  switch (a.kind) {
    case 'tool':
    case 'prompt':
    case 'completion':
      return 'mcp:execute';
    case 'resource':
    case 'task':
      return a.level === 'execute' ? 'mcp:execute' : 'mcp:read';
    case 'unknown':
    case 'invalid':
      return 'mcp:execute';
    default:
      return 'mcp:read';
  }
}

/** The thing a denial message names. */
export function actionTarget(a: McpAction): string | null {
  switch (a.kind) {
    case 'tool':
      return `tool ${a.name}`;
    case 'resource':
      return `resource ${a.uri}`;
    case 'prompt':
      return `prompt ${a.name}`;
    case 'completion':
      return a.ref.type === 'prompt' ? `prompt ${a.ref.name}` : `resource ${a.ref.uri}`;
    case 'task':
      return `task ${a.taskId}`;
    default:
      return null;
  }
}
