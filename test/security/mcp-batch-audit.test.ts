/**
 * Every MCP message is audited or refused (SPEC §15): a batch larger than
 * `server.max_batch` (default 100) is refused with 413, and so is a batch the
 * audit queue cannot take right now; nothing of a refused batch is forwarded.
 * Regression: 10,200 notifications before a tools/call filled the audit queue,
 * so the call ran and was never audited.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { json, result, startScriptedUpstream } from '../fixtures/scripted-upstream.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const note = (i: number) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: i } });
const call = (id: unknown, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
const batchOf = (notes: number, text: string) => [...Array.from({ length: notes }, (_, i) => note(i)), call('the-call', text)];

async function gateway(config: Record<string, unknown>, up: FixtureUpstream) {
  const gw = await startMcpGateway({
    servers: [{ name: 'demo', url: up.url }],
    groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }],
    ...config,
  });
  const u = await makeUser(gw.t, { groups: ['eng'] });
  const token = await makeToken(gw.t, u.id);
  const url = `${gw.url}/mcp/demo`;
  const sid = await rawInitialize(url, { authorization: `Bearer ${token}` });
  return { gw, url, user: u.id, headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } };
}

describe('security: every MCP message is audited or refused', () => {
  let up: FixtureUpstream;
  const gateways: McpGateway[] = [];

  beforeAll(async () => {
    up = await startScriptedUpstream((msg) => json(result(msg.id, { content: [{ type: 'text', text: `ran ${msg.params?.arguments?.text}` }] })));
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await up?.close();
  });

  /** Requests the upstream received that carry the call marked `text`. */
  const toolCallsSeen = (text: string) => up.seen.filter((s) => s.raw.includes(`"text":"${text}"`)).length;

  it('a batch larger than server.max_batch (default 100) is refused with 413 batch_too_large; nothing is forwarded', async () => {
    const g = await gateway({}, up);
    gateways.push(g.gw);
    const r = await rpc(g.url, batchOf(100, 'over-default'), g.headers);
    expect(r.status).toBe(413);
    expect(r.json()).toMatchObject({ id: null, error: { code: -32600, data: { code: 'batch_too_large' } } });
    expect(r.json().error.message).toContain('server.max_batch');
    expect(toolCallsSeen('over-default')).toBe(0);
    const ok = await rpc(g.url, batchOf(99, 'at-default'), g.headers);
    expect(ok.status).toBe(200);
    expect(toolCallsSeen('at-default')).toBe(1);
  });

  it('regression: 10,200 notifications before a tools/call are refused, so the call never runs unaudited', async () => {
    // max_batch raised above the audit queue: the queue is what refuses
    const g = await gateway({ server: { max_batch: 20_000 }, audit: { queue_size: 10_000 } }, up);
    gateways.push(g.gw);
    const r = await rpc(g.url, batchOf(10_200, 'flood'), g.headers);
    expect(r.status).toBe(413);
    expect(r.json().error.data.code).toBe('batch_too_large');
    expect(r.json().error.message).toContain('audit queue');
    expect(toolCallsSeen('flood')).toBe(0);
    expect(g.gw.t.app.services.auditLog.dropped).toBe(0);
  });

  it('a batch the audit queue cannot take right now is refused; one it can take is audited message by message', async () => {
    const g = await gateway({ server: { max_batch: 1_000 }, audit: { queue_size: 100, flush_interval: '1h' } }, up);
    gateways.push(g.gw);
    const audit = g.gw.t.app.services.audit;
    await audit.flush();
    // 60 messages wait in the queue (no flush before 100)
    const first = await rpc(g.url, batchOf(59, 'first'), g.headers);
    expect(first.status).toBe(200);
    // 60 more do not fit in the 40 places left: refused, not forwarded
    const second = await rpc(g.url, batchOf(59, 'second'), g.headers);
    expect(second.status).toBe(413);
    expect(second.json().error.data.code).toBe('batch_too_large');
    expect(toolCallsSeen('second')).toBe(0);
    // once the queue is written, the same batch goes through
    await audit.flush();
    const third = await rpc(g.url, batchOf(59, 'third'), g.headers);
    expect(third.status).toBe(200);
    expect(toolCallsSeen('third')).toBe(1);
    await audit.flush();
    const rows = await g.gw.t.store.db.kysely.selectFrom('audit_events').selectAll().where('actor', '=', g.user).where('action', '=', 'mcp.request').execute();
    const calls = rows.filter((r) => r.method === 'tools/call' && r.decision === 'allow');
    expect(calls).toHaveLength(2); // first and third; the refused batch ran nothing
    expect(rows.filter((r) => r.method === 'notifications/progress')).toHaveLength(2 * 59);
    expect(g.gw.t.app.services.auditLog.dropped).toBe(0);
  });
});
