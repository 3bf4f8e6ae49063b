/**
 * The pieces behind "a reply reaches only the request it answers" and
 * "lists fail closed": the per-message check, the gateway's upstream ids, the
 * task record, the bounded parse of client bodies, and the limit keys.
 */
import { describe, expect, it } from 'vitest';
import { type GatewayError } from '../../src/errors/index.js';
import { parseMcpBody, type JsonRpcMessage } from '../../src/proxy/jsonrpc.js';
import { proxyLimits } from '../../src/proxy/principal-caps.js';
import { admit, admitValue, type Expected, type ReplyPlan } from '../../src/proxy/reply-check.js';
import { MAX_TASK_TTL_MS, TaskRegistry } from '../../src/proxy/tasks.js';
import { clientIdOf, sessionIdKey, withUpstreamIds } from '../../src/proxy/upstream-ids.js';
import { testConfig } from '../helpers/app.js';

const ALL = { all: true, tool: () => true, resource: () => true, template: () => true, prompt: () => true };
const ONLY_ECHO = { all: false, tool: (n: string) => n === 'echo', resource: () => false, template: () => false, prompt: () => false };
const plan = (pending: [string | number, Expected][], p: Partial<ReplyPlan> = {}): ReplyPlan => ({ mode: 'post', pending: new Map(pending), visibility: ALL, tasks: null, gatewayReplies: [], ...p });
const res = (id: unknown, result: unknown = {}) => ({ jsonrpc: '2.0', id, result });

describe('admit: a response must answer a pending request', () => {
  it('compares ids with their JSON type and accepts each answer once', () => {
    expect(admit(res('1'), plan([[1, { method: 'ping' }]]))).toMatch(/no request/);
    expect(admit(res(1), plan([['1', { method: 'ping' }]]))).toMatch(/no request/);
    const p = plan([[1, { method: 'ping' }]]);
    expect(admit(res(1), p)).toBeNull();
    expect(admit(res(1), p)).toMatch(/answered already|no request/);
  });

  it('puts the client id back on an answer to a request sent with the gateway id', () => {
    const m = res('k.7');
    expect(admit(m, plan([['k.7', { method: 'ping', clientId: 7 }]]))).toBeNull();
    expect(m.id).toBe(7);
  });

  it('passes server-to-client requests and notifications; refuses what is not JSON-RPC', () => {
    const p = plan([]);
    expect(admit({ jsonrpc: '2.0', id: 's1', method: 'sampling/createMessage', params: {} }, p)).toBeNull();
    expect(admit({ jsonrpc: '2.0', method: 'notifications/message' }, p)).toBeNull();
    for (const bad of [null, 'x', [], { id: 1, result: {} }, { jsonrpc: '2.0', id: 1, method: 'x', result: {} }, { jsonrpc: '2.0', id: 1 }, { jsonrpc: '2.0', id: 1, result: {}, error: {} }, { jsonrpc: '2.0', id: 1, error: 'e' }])
      expect(admit(bad, plan([[1, { method: 'ping' }]])), JSON.stringify(bad)).not.toBeNull();
  });

  it('an error with id null only when the upstream refused the whole request (a 4xx)', () => {
    const err = { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'no' } };
    expect(admit(err, plan([[1, { method: 'ping' }]]))).not.toBeNull();
    expect(admit(err, plan([[1, { method: 'ping' }]]), true)).toBeNull();
  });

  it('filters a list result and refuses one it cannot read', () => {
    const m = res(1, { tools: [{ name: 'echo' }, { name: 'secret' }, 'x', { name: 3 }], nextCursor: 'c' });
    expect(admit(m, plan([[1, { method: 'tools/list', list: 'tools' }]], { visibility: ONLY_ECHO }))).toBeNull();
    expect(m.result).toEqual({ tools: [{ name: 'echo' }], nextCursor: 'c' });
    for (const result of [{ tools: 'echo' }, {}, 'tools', null, [{ name: 'echo' }]])
      expect(admit(res(1, result), plan([[1, { method: 'tools/list', list: 'tools' }]])), JSON.stringify(result)).toMatch(/unreadable/);
    // an error answers a list request like any other
    expect(admit({ jsonrpc: '2.0', id: 1, error: { code: -1, message: 'x' } }, plan([[1, { method: 'tools/list', list: 'tools' }]]))).toBeNull();
  });

  it('stream mode: list-shaped results are filtered, and with a session key only its answers pass', () => {
    const key = sessionIdKey('session-a');
    const p: ReplyPlan = { mode: 'stream', pending: new Map(), visibility: ONLY_ECHO, tasks: null, gatewayReplies: [], idKey: key };
    const mine = res(`${key}.3`, { tools: [{ name: 'echo' }, { name: 'secret' }] });
    expect(admit(mine, p)).toBeNull();
    expect(mine).toEqual(res(3, { tools: [{ name: 'echo' }] }));
    expect(admit(res(`${sessionIdKey('session-b')}.3`), p)).toMatch(/no request of this session/);
    expect(admit(res(3), p)).toMatch(/no request of this session/);
    expect(admit(res(`${key}.4`, { prompts: 'x' }), p)).toMatch(/unreadable/);
  });

  it('a batch is admitted only when every message is; an empty one never', () => {
    expect(admitValue([], plan([]))).toMatch(/empty/);
    expect(admitValue([res(1), res(2)], plan([[1, { method: 'a' }]]))).toMatch(/no request/);
    expect(admitValue([res(1), res(2)], plan([[1, { method: 'a' }], [2, { method: 'b' }]]))).toBeNull();
  });
});

describe('upstream ids', () => {
  it('requests get <key>.<client id as JSON>; a cancel names the upstream id; the client messages stay as they were', () => {
    const key = sessionIdKey('sid');
    expect(key).toMatch(/^[\w-]{22}$/);
    expect(sessionIdKey('sid')).toBe(key);
    expect(sessionIdKey('other')).not.toBe(key);
    const msgs: JsonRpcMessage[] = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } },
      { jsonrpc: '2.0', id: '1', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 0, reason: 'x' } },
      { jsonrpc: '2.0', id: 'srv', result: {} },
    ];
    const pending = new Map<string | number, Expected>([
      [1, { method: 'tools/call' }],
      ['1', { method: 'ping' }],
    ]);
    const out = withUpstreamIds(msgs, pending, key);
    expect(out.map((m) => ('id' in m ? m.id : undefined))).toEqual([`${key}.1`, `${key}."1"`, undefined, 'srv']);
    expect((out[2] as { params: { requestId: unknown } }).params.requestId).toBe(`${key}.0`);
    expect((msgs[0] as { id: unknown }).id).toBe(1);
    expect([...pending]).toEqual([
      [`${key}.1`, { method: 'tools/call', clientId: 1 }],
      [`${key}."1"`, { method: 'ping', clientId: '1' }],
    ]);
    expect(clientIdOf(`${key}.1`, key)).toBe(1);
    expect(clientIdOf(`${key}."1"`, key)).toBe('1');
    for (const bad of [1, `${key}`, `${key}.`, `${key}x1`, `${key}.{}`, `other.1`]) expect(clientIdOf(bad, key)).toBeUndefined();
  });
});

describe('task record', () => {
  it('a task is its creator’s on its server only, and is kept for its ttl (at most 7 days)', () => {
    const t = new TaskRegistry();
    const now = 1_000_000;
    t.record('s', 'alice', 'task-1', 'build', 60_000, now);
    t.record('s', 'alice', 'task-2', 'build', null, now);
    expect(t.toolOf('s', 'alice', 'task-1', now)).toBe('build');
    expect(t.toolOf('s', 'bob', 'task-1', now)).toBeNull();
    expect(t.toolOf('other', 'alice', 'task-1', now)).toBeNull();
    expect(t.toolOf('s', 'alice', 'nope', now)).toBeNull();
    expect(t.toolOf('s', 'alice', 'task-1', now + 60_001)).toBeNull();
    expect(t.toolOf('s', 'alice', 'task-2', now + 60_001)).toBe('build');
    expect(t.toolOf('s', 'alice', 'task-2', now + MAX_TASK_TTL_MS + 1)).toBeNull();
  });
});

describe('client bodies', () => {
  it('a deeply nested body costs milliseconds, not the second JSON.parse alone would take', () => {
    const deep = Buffer.from('['.repeat(3 * 1024 * 1024));
    const t0 = performance.now();
    expect(() => parseMcpBody(deep)).toThrow(expect.objectContaining({ code: 'parse_error' }));
    expect(performance.now() - t0).toBeLessThan(300);
  });

  it('a batch larger than max_batch is refused with batch_too_large', () => {
    const batch = JSON.stringify(Array.from({ length: 3 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })));
    expect(parseMcpBody(batch, 3).messages).toHaveLength(3);
    let err: GatewayError | undefined;
    try {
      parseMcpBody(batch, 2);
    } catch (e) {
      err = e as GatewayError;
    }
    expect(err).toMatchObject({ code: 'batch_too_large', status: 413 });
  });
});

describe('limit keys', () => {
  it('defaults: max_batch 100; per principal 100 sessions, 4 stdio processes, 20 event streams', () => {
    expect(proxyLimits(testConfig())).toEqual({ maxBatch: 100, perPrincipal: { sessions: 100, stdioProcesses: 4, eventStreams: 20 } });
    expect(proxyLimits(testConfig({ server: { max_batch: 5 }, limits: { per_principal: { sessions: 2 } } }))).toEqual({ maxBatch: 5, perPrincipal: { sessions: 2, stdioProcesses: 4, eventStreams: 20 } });
  });

  it('are validated strictly with their paths', () => {
    expect(() => testConfig({ server: { max_batch: 0 } })).toThrow(/server\.max_batch/);
    expect(() => testConfig({ limits: { per_principal: { streams: 3 } } })).toThrow(/limits\.per_principal\.streams: unknown key/);
    expect(() => testConfig({ limits: { per_principal: { stdio_processes: -1 } } })).toThrow(/limits\.per_principal\.stdio_processes/);
  });
});
