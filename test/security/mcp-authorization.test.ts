/**
 * Per-message authorization at the MCP endpoint. Each test asserts the HTTP
 * status, the error code, and that the denied message never reached the
 * upstream (the fixture records every request it receives).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, setUser, sseMessages, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const grant = (server: string) => ({ server, tools: ['echo', 'read_*'], resources: ['public://*'], prompts: ['greet'], access_level: 'execute' });

describe('security: MCP per-message authorization', () => {
  let sseUp: FixtureUpstream;
  let jsonUp: FixtureUpstream;
  let gw: McpGateway;
  let alice: { id: string };
  let aliceToken: string;
  let bobToken: string;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    sseUp = await startHttpUpstream({ json: false });
    jsonUp = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({
      servers: [
        { name: 'demo', url: sseUp.url },
        { name: 'demo-json', url: jsonUp.url },
      ],
      groups: [{ name: 'eng', grants: [grant('demo'), grant('demo-json')] }],
    });
    alice = await makeUser(gw.t, { groups: ['eng'] });
    aliceToken = await makeToken(gw.t, alice.id);
    const bob = await makeUser(gw.t, { groups: ['eng'] });
    bobToken = await makeToken(gw.t, bob.id);
  });
  afterAll(async () => {
    await gw?.close();
    await sseUp?.close();
    await jsonUp?.close();
  });
  beforeEach(() => {
    sseUp.reset();
    jsonUp.reset();
  });

  async function session(server: string, token = aliceToken, protocol = '2025-06-18') {
    const url = `${gw.url}/mcp/${server}`;
    const sid = await rawInitialize(url, auth(token), protocol);
    const headers = { ...auth(token), 'mcp-session-id': sid, 'mcp-protocol-version': protocol };
    return { url, sid, headers };
  }

  /** The JSON-RPC message(s) of a JSON or SSE response body. */
  const messages = (r: { headers: Headers; text: string }) =>
    (r.headers.get('content-type') ?? '').includes('text/event-stream') ? sseMessages(r.text) : [JSON.parse(r.text)].flat();

  for (const server of ['demo', 'demo-json']) {
    it(`${server}: a denied tools/call gets -32003 naming tool and server, and never reaches the upstream`, async () => {
      const s = await session(server);
      const up = server === 'demo' ? sseUp : jsonUp;
      up.reset();
      const r = await rpc(s.url, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'secret_tool', arguments: {} } }, s.headers);
      expect(r.status).toBe(200);
      const body = r.json();
      expect(body.id).toBe(7);
      expect(body.error.code).toBe(-32003);
      expect(body.error.message).toContain('secret_tool');
      expect(body.error.message).toContain(server);
      expect(body.error.data.code).toBe('forbidden');
      expect(up.seen).toEqual([]);
    });

    it(`${server}: a hidden tool is absent from tools/list (${server === 'demo' ? 'SSE' : 'JSON'} response)`, async () => {
      const s = await session(server);
      const r = await rpc(s.url, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, s.headers);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain(server === 'demo' ? 'text/event-stream' : 'application/json');
      const [msg] = messages(r);
      const names = msg.result.tools.map((t: { name: string }) => t.name).sort();
      expect(names).toEqual(['echo', 'read_file']);
      expect(r.text).not.toContain('secret_tool');
      expect(r.text).not.toContain('"slow"');
      // the upstream was asked (list filtering happens on the way back)
      expect((server === 'demo' ? sseUp : jsonUp).rpcMethods()).toContain('tools/list');
    });

    it(`${server}: resources/list and prompts/list are filtered too`, async () => {
      const s = await session(server);
      const res = messages(await rpc(s.url, { jsonrpc: '2.0', id: 3, method: 'resources/list', params: {} }, s.headers))[0];
      expect(res.result.resources.map((x: { uri: string }) => x.uri)).toEqual(['public://readme']);
      const pr = messages(await rpc(s.url, { jsonrpc: '2.0', id: 4, method: 'prompts/list', params: {} }, s.headers))[0];
      expect(pr.result.prompts.map((x: { name: string }) => x.name)).toEqual(['greet']);
    });
  }

  it('a denied resources/read gets -32003 and never reaches the upstream', async () => {
    const s = await session('demo');
    sseUp.reset();
    const r = await rpc(s.url, { jsonrpc: '2.0', id: 9, method: 'resources/read', params: { uri: 'secret://keys' } }, s.headers);
    expect(r.status).toBe(200);
    expect(r.json().error.code).toBe(-32003);
    expect(r.json().error.message).toContain('secret://keys');
    expect(sseUp.seen).toEqual([]);
    const ok = await rpc(s.url, { jsonrpc: '2.0', id: 10, method: 'resources/read', params: { uri: 'public://readme' } }, s.headers);
    expect(messages(ok)[0].result.contents[0].text).toBe('public data');
  });

  it('a denied prompts/get gets -32003 and never reaches the upstream', async () => {
    const s = await session('demo');
    sseUp.reset();
    const r = await rpc(s.url, { jsonrpc: '2.0', id: 11, method: 'prompts/get', params: { name: 'hidden_prompt' } }, s.headers);
    expect(r.json().error.code).toBe(-32003);
    expect(sseUp.seen).toEqual([]);
  });

  it('a batch is authorized element by element: the denied element is answered by the gateway, only the allowed one is forwarded', async () => {
    const s = await session('demo-json', aliceToken, '2025-03-26');
    jsonUp.reset();
    const r = await rpc(
      s.url,
      [
        { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'echo', arguments: { text: 'ok' } } },
        { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'secret_tool', arguments: {} } },
      ],
      s.headers,
    );
    expect(r.status).toBe(200);
    const out = r.json();
    expect(Array.isArray(out)).toBe(true);
    const byId = Object.fromEntries(out.map((m: { id: string }) => [m.id, m]));
    expect(byId.a.result.content[0].text).toBe('echo: ok');
    expect(byId.b.error.code).toBe(-32003);
    expect(jsonUp.toolCalls()).toEqual(['echo']);
    expect(JSON.stringify(jsonUp.seen.map((x) => x.body))).not.toContain('secret_tool');
  });

  it('a batch answered as SSE carries the gateway denial and the forwarded answer; the denied element never reaches the upstream', async () => {
    const s = await session('demo', aliceToken, '2025-03-26');
    sseUp.reset();
    const r = await rpc(
      s.url,
      [
        { jsonrpc: '2.0', id: 'l', method: 'tools/list', params: {} },
        { jsonrpc: '2.0', id: 'd', method: 'tools/call', params: { name: 'secret_tool', arguments: {} } },
      ],
      s.headers,
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const byId = Object.fromEntries(messages(r).map((m: { id: string }) => [m.id, m]));
    expect(byId.d.error.code).toBe(-32003);
    expect(byId.l.result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['echo', 'read_file']);
    expect(r.text).not.toContain('SECRET OUTPUT');
    expect(sseUp.toolCalls()).toEqual([]);
    expect(sseUp.rpcMethods()).toEqual(['tools/list']);
  });

  it('a batch where every element is denied never reaches the upstream', async () => {
    const s = await session('demo-json', aliceToken, '2025-03-26');
    jsonUp.reset();
    const r = await rpc(
      s.url,
      [
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'secret_tool', arguments: {} } },
        { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'secret://keys' } },
      ],
      s.headers,
    );
    expect(r.status).toBe(200);
    expect(r.json().map((m: { error: { code: number } }) => m.error.code)).toEqual([-32003, -32003]);
    expect(jsonUp.seen).toEqual([]);
  });

  it("another principal presenting a session id gets 404 session_not_found and the upstream sees nothing", async () => {
    const s = await session('demo');
    sseUp.reset();
    const r = await rpc(s.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { ...s.headers, ...auth(bobToken) });
    expect(r.status).toBe(404);
    expect(r.json().error.data.code).toBe('session_not_found');
    const del = await fetch(s.url, { method: 'DELETE', headers: { ...auth(bobToken), 'mcp-session-id': s.sid } });
    expect(del.status).toBe(404);
    const get = await fetch(s.url, { method: 'GET', headers: { ...auth(bobToken), 'mcp-session-id': s.sid, accept: 'text/event-stream' } });
    expect(get.status).toBe(404);
    expect(sseUp.seen).toEqual([]);
    // the owner's session still works
    const ok = await rpc(s.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'mine' } } }, s.headers);
    expect(messages(ok)[0].result.content[0].text).toBe('echo: mine');
  });

  it('a made-up session id gets 404 and is never forwarded', async () => {
    const r = await rpc(`${gw.url}/mcp/demo`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...auth(aliceToken), 'mcp-session-id': 'not-a-session' });
    expect(r.status).toBe(404);
    expect(r.json().error.data.code).toBe('session_not_found');
    expect(sseUp.seen).toEqual([]);
  });

  it('a role or group change mid-session applies to the very next message', async () => {
    const carol = await makeUser(gw.t, { groups: ['eng'] });
    const token = await makeToken(gw.t, carol.id);
    const s = await session('demo-json', token);
    const call = (id: number, name: string) => rpc(s.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { text: 't' } } }, s.headers);
    expect((await call(1, 'echo')).json().result).toBeTruthy();
    await setUser(gw.t, carol.id, { groups: [] });
    jsonUp.reset();
    const denied = await call(2, 'echo');
    expect(denied.status).toBe(200);
    expect(denied.json().error.code).toBe(-32003);
    expect(jsonUp.seen).toEqual([]);
    await setUser(gw.t, carol.id, { role: 'admin' });
    const admin = await call(3, 'secret_tool');
    expect(admin.json().result.content[0].text).toBe('SECRET OUTPUT');
  });

  it('a group definition change applies to the next message', async () => {
    const s = await session('demo-json');
    gw.t.app.services.bus.publish({ kind: 'groups' });
    await gw.t.store.groups.update('eng', { grants: [{ server: 'demo-json', tools: ['read_*'], access_level: 'execute' }] });
    gw.t.app.services.bus.publish({ kind: 'groups' });
    jsonUp.reset();
    const r = await rpc(s.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 't' } } }, s.headers);
    expect(r.json().error.code).toBe(-32003);
    expect(jsonUp.seen).toEqual([]);
    await gw.t.store.groups.update('eng', { grants: [grant('demo'), grant('demo-json')] as never });
    gw.t.app.services.bus.publish({ kind: 'groups' });
  });

  it('a token without mcp:execute gets 403 insufficient_scope with the challenge, and nothing is forwarded', async () => {
    const readOnly = await makeToken(gw.t, alice.id, { scopes: ['mcp:read'] });
    const s = await session('demo', readOnly);
    sseUp.reset();
    const r = await rpc(s.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, s.headers);
    expect(r.status).toBe(403);
    const www = r.headers.get('www-authenticate') ?? '';
    expect(www).toContain('Bearer error="insufficient_scope"');
    expect(www).toContain('scope="mcp:execute"');
    expect(r.json().error.data.code).toBe('insufficient_scope');
    expect(sseUp.seen).toEqual([]);
    // listing is fine with mcp:read
    const list = await rpc(s.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, s.headers);
    expect(list.status).toBe(200);
  });

  it('a token with only api scopes cannot even initialize (403 insufficient_scope mcp:read)', async () => {
    const apiOnly = await makeToken(gw.t, alice.id, { scopes: ['api:read'] });
    const r = await rpc(`${gw.url}/mcp/demo`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, auth(apiOnly));
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toContain('scope="mcp:read"');
    expect(sseUp.seen).toEqual([]);
  });

  it("a token restricted to other servers is refused on this one and nothing is forwarded", async () => {
    const only = await makeToken(gw.t, alice.id, { servers: ['demo-json'] });
    const r = await rpc(`${gw.url}/mcp/demo`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, auth(only));
    expect(r.status).toBe(200);
    expect(r.json().error.code).toBe(-32003);
    expect(sseUp.seen).toEqual([]);
  });

  it('a user without any grant on the server cannot initialize; nothing is forwarded', async () => {
    const dave = await makeUser(gw.t, { groups: [] });
    const token = await makeToken(gw.t, dave.id);
    const r = await rpc(`${gw.url}/mcp/demo`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, auth(token));
    expect(r.json().error.code).toBe(-32003);
    expect(sseUp.seen).toEqual([]);
  });

  it('every MCP request is audited with principal, token, server, method, tool, decision and status — never the token', async () => {
    const s = await session('demo-json');
    await rpc(s.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'secret_tool', arguments: {} } }, s.headers);
    await gw.t.app.services.audit.flush();
    const rows = await gw.t.store.db.kysely.selectFrom('audit_events').selectAll().where('action', '=', 'mcp.request').where('tool', '=', 'secret_tool').execute();
    expect(rows.length).toBeGreaterThan(0);
    const row = rows[rows.length - 1];
    expect(row).toMatchObject({ actor: alice.id, server: 'demo-json', method: 'tools/call', decision: 'deny', status: 200 });
    expect(row.token_id).toBeTruthy();
    const all = JSON.stringify(await gw.t.store.db.kysely.selectFrom('audit_events').selectAll().execute());
    expect(all).not.toContain(aliceToken);
    expect(gw.t.logs.join('')).not.toContain(aliceToken);
  });
});
