/**
 * Tasks (MCP 2025-11-25): `tasks/get`, `tasks/result` and `tasks/cancel`
 * reach the upstream only for a task the caller created through the gateway
 * and whose tool it may still use; anything else gets -32003 and is never
 * forwarded (admins included). `tasks/list` is filtered like the other lists.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { json, result, startScriptedUpstream } from '../fixtures/scripted-upstream.js';
import { makeToken, makeUser, rawInitialize, rpc, setUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const now = new Date().toISOString();
const task = (taskId: string, status = 'working') => ({ taskId, status, ttl: 60_000, createdAt: now, lastUpdatedAt: now });

describe('security: tasks belong to the caller that created them', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let n = 0;
  const created: string[] = [];
  let alice: { id: string; headers: Record<string, string> };
  let bob: { id: string; headers: Record<string, string> };
  let admin: { headers: Record<string, string> };
  const url = () => `${gw.url}/mcp/jobs`;

  beforeAll(async () => {
    up = await startScriptedUpstream((msg) => {
      switch (msg.method) {
        case 'tools/call': {
          if (!msg.params?.task) return json(result(msg.id, { content: [{ type: 'text', text: 'done now' }] }));
          const id = `task-${++n}`;
          created.push(id);
          return json(result(msg.id, { task: task(id) }));
        }
        case 'tasks/get':
          return json(result(msg.id, task(msg.params.taskId)));
        case 'tasks/result':
          return json(result(msg.id, { content: [{ type: 'text', text: `result of ${msg.params.taskId}` }] }));
        case 'tasks/cancel':
          return json(result(msg.id, task(msg.params.taskId, 'cancelled')));
        case 'tasks/list':
          // the upstream lists every task it has, whoever asked for it, and one it made itself
          return json(result(msg.id, { tasks: [...created.map((t) => task(t)), task('made-upstream')] }));
        default:
          return json(result(msg.id, {}));
      }
    });
    gw = await startMcpGateway({
      servers: [{ name: 'jobs', url: up.url }],
      groups: [
        { name: 'eng', grants: [{ server: 'jobs', tools: ['build', 'deploy'], access_level: 'execute' }] },
        { name: 'builders', grants: [{ server: 'jobs', tools: ['build'], access_level: 'execute' }] },
      ],
    });
    const session = async (token: string) => {
      const h = { authorization: `Bearer ${token}` };
      const sid = await rawInitialize(url(), h, '2025-11-25');
      return { ...h, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    };
    const a = await makeUser(gw.t, { groups: ['eng'] });
    alice = { id: a.id, headers: await session(await makeToken(gw.t, a.id)) };
    const b = await makeUser(gw.t, { groups: ['eng'] });
    bob = { id: b.id, headers: await session(await makeToken(gw.t, b.id)) };
    const root = await makeUser(gw.t, { role: 'admin' });
    admin = { headers: await session(await makeToken(gw.t, root.id)) };
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  const startTask = async (who: { headers: Record<string, string> }, tool = 'build') => {
    const r = await rpc(url(), { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: {}, task: { ttl: 60_000 } } }, who.headers);
    expect(r.status).toBe(200);
    return r.json().result.task.taskId as string;
  };
  const onTask = (who: { headers: Record<string, string> }, method: string, taskId: string, id = 2) => rpc(url(), { jsonrpc: '2.0', id, method, params: { taskId } }, who.headers);
  const listed = async (who: { headers: Record<string, string> }) => {
    const r = await rpc(url(), { jsonrpc: '2.0', id: 3, method: 'tasks/list', params: {} }, who.headers);
    expect(r.status).toBe(200);
    return (r.json().result.tasks as { taskId: string }[]).map((t) => t.taskId);
  };

  it('the creator may get, read and cancel its task; each is forwarded', async () => {
    const id = await startTask(alice);
    up.reset();
    expect((await onTask(alice, 'tasks/get', id)).json().result).toMatchObject({ taskId: id, status: 'working' });
    expect((await onTask(alice, 'tasks/result', id)).json().result.content[0].text).toBe(`result of ${id}`);
    expect((await onTask(alice, 'tasks/cancel', id)).json().result).toMatchObject({ taskId: id, status: 'cancelled' });
    expect(up.rpcMethods()).toEqual(['tasks/get', 'tasks/result', 'tasks/cancel']);
  });

  it("another principal's tasks/get, tasks/result and tasks/cancel get -32003 and never reach the upstream", async () => {
    const id = await startTask(alice);
    up.reset();
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      const r = await onTask(bob, method, id);
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ id: 2, error: { code: -32003, data: { code: 'forbidden' } } });
      expect(r.json().error.message).toContain(id);
    }
    expect(up.seen).toEqual([]);
  });

  it('a task the gateway did not see created is refused to everyone, admins included; nothing is forwarded', async () => {
    for (const who of [alice, admin]) {
      const r = await onTask(who, 'tasks/result', 'made-upstream');
      expect(r.json()).toMatchObject({ error: { code: -32003, data: { code: 'forbidden' } } });
    }
    const missing = await rpc(url(), { jsonrpc: '2.0', id: 4, method: 'tasks/get', params: {} }, alice.headers);
    expect(missing.json().error.code).toBe(-32003);
    expect(up.seen).toEqual([]);
  });

  it('tasks/list shows each caller only its own tasks, never one the gateway did not see created', async () => {
    const a = await startTask(alice);
    const b = await startTask(bob);
    const mine = await listed(alice);
    expect(mine).toContain(a);
    expect(mine).not.toContain(b);
    expect(mine).not.toContain('made-upstream');
    const theirs = await listed(bob);
    expect(theirs).toContain(b);
    expect(theirs).not.toContain(a);
    expect(await listed(admin)).toEqual([]);
    expect(up.rpcMethods().filter((m) => m === 'tasks/list')).toHaveLength(3);
  });

  it('once the tool is no longer granted its tasks are refused and no longer listed', async () => {
    const carolUser = await makeUser(gw.t, { groups: ['eng'] });
    const carol = { headers: await (async () => {
      const h = { authorization: `Bearer ${await makeToken(gw.t, carolUser.id)}` };
      const sid = await rawInitialize(url(), h, '2025-11-25');
      return { ...h, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    })() };
    const deploy = await startTask(carol, 'deploy');
    const build = await startTask(carol, 'build');
    await setUser(gw.t, carolUser.id, { groups: ['builders'] }); // deploy is no longer granted
    up.reset();
    const r = await onTask(carol, 'tasks/result', deploy);
    expect(r.json()).toMatchObject({ error: { code: -32003, data: { code: 'forbidden' } } });
    expect(up.seen).toEqual([]);
    expect((await onTask(carol, 'tasks/result', build)).json().result.content[0].text).toBe(`result of ${build}`);
    const shown = await listed(carol);
    expect(shown).toContain(build);
    expect(shown).not.toContain(deploy);
  });

  it('in a batch, a refused task request is answered by the gateway and only the allowed one is forwarded', async () => {
    const id = await startTask(alice);
    up.reset();
    const r = await rpc(
      url(),
      [
        { jsonrpc: '2.0', id: 'mine', method: 'tasks/get', params: { taskId: id } },
        { jsonrpc: '2.0', id: 'not-mine', method: 'tasks/get', params: { taskId: 'made-upstream' } },
      ],
      alice.headers,
    );
    const byId = Object.fromEntries((r.json() as { id: string }[]).map((m) => [m.id, m]));
    expect(byId.mine).toMatchObject({ result: { taskId: id } });
    expect(byId['not-mine']).toMatchObject({ error: { code: -32003 } });
    expect(JSON.stringify(up.seen.map((s) => s.body))).not.toContain('made-upstream');
  });
});
