/**
 * Fail closed on lists (SPEC §15): a list reply the gateway cannot match to
 * its request or cannot parse is refused (502), never relayed unfiltered; a
 * reply it can read is filtered whatever its spelling (SSE spacing, line
 * breaks, batches, a byte-order mark). Each case of the issue goes through the
 * official SDK client where the client can read the reply, raw otherwise. On
 * GET streams anything that looks like a list result is filtered and an event
 * the gateway cannot read is dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { clientIdOf, json, result, sse, startScriptedUpstream, TOOLS, type Scripted } from '../fixtures/scripted-upstream.js';
import { connectClient, makeToken, makeUser, rawInitialize, rpc, sseMessages, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const list = (id: unknown) => result(id, { tools: TOOLS });

/** How the upstream answers tools/list, per server. */
const SHAPES: Record<string, (msg: { id: string }) => Scripted> = {
  'string-id': (m) => json(list(String(clientIdOf(m.id)))),
  'two-spaces': (m) => sse(`event: message\ndata:  ${JSON.stringify(list(m.id))}\n\n`),
  'text-plain': (m) => ({ contentType: 'text/plain', body: JSON.stringify(list(m.id)) }),
  batch: (m) => sse(`event: message\ndata: [${JSON.stringify(list(m.id))}]\n\n`),
  'multi-line': (m) => sse(`event: message\n${JSON.stringify(list(m.id), null, 1).split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`),
  bom: (m) => sse(`\uFEFFdata: ${JSON.stringify(list(m.id))}\n\n`),
  'other-event-type': (m) => sse(`event: tools\ndata: ${JSON.stringify(list(m.id))}\n\nevent: message\ndata: ${JSON.stringify(result(m.id, { tools: [TOOLS[0]] }))}\n\n`),
  'tools-not-array': (m) => json(result(m.id, { tools: { secret_tool: {} } })),
  'no-result-object': (m) => json(result(m.id, 'secret_tool')),
  'odd-items': (m) => json(result(m.id, { tools: [TOOLS[0], 'secret_tool', { name: 42 }, null, TOOLS[1]] })),
  'json-unreadable': () => ({ contentType: 'application/json', body: '{"jsonrpc":"2.0","id":' }),
};

/** The GET stream: a notification, a list result (filtered by shape), garbage, a response of another session, a resumed answer. */
function getStream(_req: unknown, res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}\n\n`);
  res.write(`event: message\ndata: not json at all\n\n`);
  res.write(`event: message\ndata: ${JSON.stringify(result('another-session.7', { tools: TOOLS }))}\n\n`);
  res.write(`data:  ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'still here' } })}\n\n`);
  res.end();
}

describe('security: list replies fail closed', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    up = await startScriptedUpstream((msg, req) => {
      const shape = new URL(req.url ?? '/', 'http://x').searchParams.get('shape') ?? '';
      return msg.method === 'tools/list' ? SHAPES[shape](msg) : json(result(msg.id, {}));
    }, getStream);
    gw = await startMcpGateway({
      servers: Object.keys(SHAPES).map((shape) => ({ name: shape, url: `${up.url}?shape=${shape}` })),
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    token = await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  async function rawList(server: string) {
    const url = `${gw.url}/mcp/${server}`;
    const sid = await rawInitialize(url, auth());
    return rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...auth(), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
  }

  async function sdkList(server: string): Promise<string[]> {
    const { client } = await connectClient(`${gw.url}/mcp/${server}`, token);
    try {
      return (await client.listTools()).tools.map((t) => t.name);
    } finally {
      await client.close();
    }
  }

  for (const [server, why] of [
    ['string-id', 'a reply id "1" for request id 1'],
    ['text-plain', 'a text/plain reply'],
    ['tools-not-array', 'a result whose tools are not a list'],
    ['no-result-object', 'a result that is not an object'],
    ['json-unreadable', 'a JSON body that does not parse'],
  ] as const) {
    it(`${why} to tools/list is refused with 502; the SDK client never sees the hidden tool`, async () => {
      const r = await rawList(server);
      expect(r.status).toBe(502);
      expect(r.json()).toMatchObject({ id: 1, error: { code: -32002, data: { code: 'upstream_unavailable' } } });
      expect(r.text).not.toContain('secret_tool');
      await expect(sdkList(server)).rejects.toThrow();
    });
  }

  for (const [server, why] of [
    ['two-spaces', 'SSE `data:  {` (two spaces: the JSON starts with a space)'],
    ['multi-line', 'a result spread over several data: lines'],
    ['bom', 'an event stream starting with a byte-order mark'],
    ['other-event-type', 'a list in an event of another type (not relayed) next to the real answer'],
    ['odd-items', 'items that are not tools'],
  ] as const) {
    it(`${why} is filtered: the SDK client lists only the granted tool`, async () => {
      expect(await sdkList(server)).toEqual(['echo']);
      const r = await rawList(server);
      expect(r.status).toBe(200);
      expect(r.text).not.toContain('secret_tool');
      expect(r.text).not.toContain('"name":42');
    });
  }

  it('an SSE batch `data: [ … ]` is filtered element by element and relayed as a batch', async () => {
    const r = await rawList('batch');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('secret_tool');
    const [batch] = sseMessages(r.text);
    expect(batch).toEqual([{ jsonrpc: '2.0', id: 1, result: { tools: [TOOLS[0]] } }]);
  });

  it('on a GET stream a list result is filtered by shape, and events it cannot read or that answer another session are dropped', async () => {
    const url = `${gw.url}/mcp/two-spaces`;
    const sid = await rawInitialize(url, auth());
    const r = await fetch(url, { headers: { ...auth(), 'mcp-session-id': sid, accept: 'text/event-stream' } });
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain('secret_tool');
    expect(text).not.toContain('not json');
    expect(text).not.toContain('another-session');
    expect(sseMessages(text)).toEqual([
      { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'still here' } },
    ]);
  });
});
