import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { connectClient, makeToken, makeUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const GROUPS = [
  {
    name: 'eng',
    grants: [
      { server: 'demo', tools: ['echo', 'ask', 'confirm', 'log', 'read_*'], resources: ['public://*'], prompts: ['greet'], access_level: 'execute' },
      { server: 'demo-json', tools: ['echo', 'ask', 'confirm', 'log', 'read_*'], resources: ['public://*'], prompts: ['greet'], access_level: 'execute' },
    ],
  },
];

// JSON response mode cannot carry messages related to a request (the SDK
// server drops them), so the server-to-client tests run in SSE mode only.
describe.each([
  { mode: 'SSE responses', server: 'demo', json: false, streaming: true },
  { mode: 'JSON responses', server: 'demo-json', json: true, streaming: false },
])('e2e: SDK client → gateway → SDK Streamable HTTP server ($mode)', ({ server, json, streaming }) => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;

  beforeAll(async () => {
    up = await startHttpUpstream({ json });
    gw = await startMcpGateway({
      servers: [{ name: server, url: up.url, headers: { 'X-Upstream-Key': 'configured-upstream-key' } }],
      groups: GROUPS,
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('initializes, lists only granted tools, calls an allowed tool, and ends the session with DELETE', async () => {
    const { client, transport } = await connectClient(`${gw.url}/mcp/${server}`, token, {
      capabilities: { sampling: {}, elicitation: {} },
    });
    expect(transport.sessionId).toBeTruthy();
    // the gateway mints its own session id; the upstream's never reaches the client
    const upstreamIds = up.seen.map((s) => s.headers['mcp-session-id']).filter(Boolean);
    expect(upstreamIds).not.toContain(transport.sessionId);

    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['ask', 'confirm', 'echo', 'log', 'read_file']);

    const r = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(r.content).toEqual([{ type: 'text', text: 'echo: hi' }]);
    // upstream credentials come from the server config, never from the client
    const call = up.seen.find((s) => (s.body as { method?: string })?.method === 'tools/call')!;
    expect(call.headers['x-upstream-key']).toBe('configured-upstream-key');
    expect(call.headers.authorization).toBeUndefined();

    const before = up.seen.length;
    await transport.terminateSession();
    const del = up.seen.slice(before).find((s) => s.method === 'DELETE');
    expect(del).toBeTruthy();
    await client.close();
  });

  if (streaming) {
    it('server-to-client sampling and elicitation requests reach the client and its answers go back', async () => {
      const { client, transport } = await connectClient(`${gw.url}/mcp/${server}`, token, { capabilities: { sampling: {}, elicitation: {} } });
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'forty-two' } }));
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
      const r = await client.callTool({ name: 'ask', arguments: { question: 'meaning?' } });
      expect(r.content).toEqual([{ type: 'text', text: 'llm said: forty-two' }]);
      const e = await client.callTool({ name: 'confirm', arguments: {} });
      expect(e.content).toEqual([{ type: 'text', text: 'elicited: accept {"ok":true}' }]);
      await transport.terminateSession();
      await client.close();
    });

    it('logging notifications reach the client', async () => {
      const { client, transport } = await connectClient(`${gw.url}/mcp/${server}`, token);
      const got: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
        got.push(n.params.data);
      });
      await client.callTool({ name: 'log', arguments: { msg: 'hello log' } });
      expect(got).toContain('hello log');
      await transport.terminateSession();
      await client.close();
    });
  }

  it('resources and prompts are filtered and authorized', async () => {
    const { client, transport } = await connectClient(`${gw.url}/mcp/${server}`, token);
    const res = (await client.listResources()).resources.map((r) => r.uri);
    expect(res).toEqual(['public://readme']);
    const read = await client.readResource({ uri: 'public://readme' });
    expect(read.contents[0]).toMatchObject({ text: 'public data' });
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toEqual(['greet']);
    const g = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    expect(g.messages[0].content).toMatchObject({ text: 'Hello Ada' });
    await transport.terminateSession();
    await client.close();
  });
});
