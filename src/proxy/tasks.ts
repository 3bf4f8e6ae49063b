/**
 * Tasks (MCP 2025-11-25 "tasks" utility) the gateway saw created: a
 * `tools/call` with `params.task` whose answer carries `result.task.taskId`.
 * Each is recorded for the principal that created it, on its server, with the
 * tool that created it. Deny by default:
 *
 * - `tasks/get`, `tasks/result` and `tasks/cancel` reach the upstream only for
 *   a task recorded for the caller on that server, and only while the caller
 *   still holds a grant on its tool (read for get, execute for result and
 *   cancel); anything else gets -32003 and is never forwarded, admins included.
 * - `tasks/list` results keep only those tasks, and only while their tool is
 *   still visible to the caller.
 *
 * Bounded and in memory (no store round trip per request): at most
 * MAX_TASKS records, each kept for the task's `ttl` (at most MAX_TASK_TTL_MS,
 * which is also the keep time of a task without ttl). The record lives on the
 * replica that relayed the task's creation.
 */
import { LruCache } from '../lib/lru.js';
import { type Visibility } from '../policy/index.js';
import { type TaskScope } from './reply-check.js';

export const MAX_TASKS = 100_000;
export const MAX_TASK_TTL_MS = 7 * 86_400_000;
const MAX_TASK_ID = 1024;

interface TaskRecord {
  principalId: string;
  tool: string;
}

export class TaskRegistry {
  private readonly tasks = new LruCache<string, TaskRecord>(MAX_TASKS);

  record(server: string, principalId: string, taskId: string, tool: string, ttlMs: number | null, now = Date.now()): void {
    if (taskId.length === 0 || taskId.length > MAX_TASK_ID) return;
    const keep = ttlMs !== null && Number.isFinite(ttlMs) && ttlMs > 0 ? Math.min(ttlMs, MAX_TASK_TTL_MS) : MAX_TASK_TTL_MS;
    this.tasks.set(key(server, taskId), { principalId, tool }, now + keep);
  }

  /** The tool of a task `principalId` created on `server` through the gateway; null for any other task. */
  toolOf(server: string, principalId: string, taskId: string, now = Date.now()): string | null {
    const r = this.tasks.get(key(server, taskId), now);
    return r && r.principalId === principalId ? r.tool : null;
  }

  get size(): number {
    return this.tasks.size;
  }
}

const key = (server: string, taskId: string) => `${server}\u0000${taskId}`;

/**
 * The caller's tasks on one server: tasks it creates are recorded for it;
 * a listed task is shown while it is the caller's and its tool is visible.
 */
export function taskScope(registry: TaskRegistry, server: string, principalId: string, v: Visibility): TaskScope {
  return {
    created: (taskId, tool, ttlMs) => registry.record(server, principalId, taskId, tool, ttlMs),
    visible: (taskId) => {
      const tool = registry.toolOf(server, principalId, taskId);
      return tool !== null && v.tool(tool);
    },
  };
}
