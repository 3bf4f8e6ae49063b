/**
 * What the gateway authorized is what it forwards (SPEC §15): the message is
 * re-serialized from the parsed value, so a duplicate key cannot show the
 * gateway one tool name and an upstream parser another; bodies are parsed
 * with bounded nesting; only an allow-list of client headers reaches an
 * upstream. Each test asserts status, error code and what the upstream got.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, result, startScriptedUpstream } from '../fixtures/scripted-upstream.js';
import { type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

describe('security: what was authorized is what is forwarded', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  let sid: string;
  const url = () => `${gw.url}/mcp/demo`;
  const headers = () => ({ authorization: `Bearer ${token}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });

  beforeAll(async () => {
    up = await startScriptedUpstream((msg) => json(result(msg.id, { content: [{ type: 'text', text: `ran ${msg.params?.name}` }] })));
    gw = await startMcpGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
    sid = await rawInitialize(url(), { authorization: `Bearer ${token}` });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('a duplicate "name" key cannot smuggle a denied tool: the upstream gets only the name that was authorized', async () => {
    // JSON.parse keeps the last key; an upstream parser that keeps the first would run secret_tool.
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret_tool","name":"echo","arguments":{}}}';
    const r = await rpc(url(), body, headers());
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ id: 1, result: { content: [{ text: 'ran echo' }] } });
    expect(up.seen).toHaveLength(1);
    const raw = up.seen[0].raw;
    expect(raw).not.toContain('secret_tool');
    expect(raw.match(/"name"/g)).toHaveLength(1);
    // exactly the parsed message, re-serialized (with the gateway's request id)
    const sent = JSON.parse(raw);
    expect(raw).toBe(JSON.stringify(sent));
    expect(sent).toEqual({ jsonrpc: '2.0', id: expect.stringMatching(/\.1$/), method: 'tools/call', params: { name: 'echo', arguments: {} } });
  });

  it('the same duplicate the other way round is denied (the gateway reads the last key) and nothing is forwarded', async () => {
    const body = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","name":"secret_tool","arguments":{}}}';
    const r = await rpc(url(), body, headers());
    expect(r.status).toBe(200);
    expect(r.json().error).toMatchObject({ code: -32003, data: { code: 'forbidden' } });
    expect(up.seen).toEqual([]);
  });

  it("whitespace, key order and escapes of the client's bytes never reach the upstream: the message is written anew", async () => {
    const body = ' {"method":"tools/call",  "jsonrpc":"2.0", "id":"a",\n "params":{"name":"\\u0065cho", "arguments":{"t":"\\/x"}}} ';
    const r = await rpc(url(), body, headers());
    expect(r.status).toBe(200);
    expect(up.seen).toHaveLength(1);
    const sent = JSON.parse(up.seen[0].raw);
    expect(up.seen[0].raw).toBe(JSON.stringify(sent));
    expect(sent).toEqual({ method: 'tools/call', jsonrpc: '2.0', id: expect.stringMatching(/\."a"$/), params: { name: 'echo', arguments: { t: '/x' } } });
  });

  it('a body nested deeper than the bound is refused with 400 parse_error; nothing is forwarded', async () => {
    const r = await rpc(url(), '['.repeat(3 * 1024 * 1024), headers());
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ id: null, error: { code: -32700, data: { code: 'parse_error' } } });
    const shallowButDeepEnough = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":' + '{"a":'.repeat(100) + '1' + '}'.repeat(100) + '}}';
    const r2 = await rpc(url(), shallowButDeepEnough, headers());
    expect(r2.status).toBe(400);
    expect(r2.json().error.data.code).toBe('parse_error');
    expect(up.seen).toEqual([]);
  });

  it('only allowed client headers reach the upstream: never X-Forwarded-User, X-HTTP-Method-Override, Cookie or Authorization', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: {} } });
    const u = new URL(url());
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: {
            ...headers(),
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'x-forwarded-user': 'admin@example.com',
            'x-http-method-override': 'DELETE',
            cookie: 'session=browser-secret',
            'x-custom-identity': 'root',
            'user-agent': 'forwarding-test/1',
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
            'content-length': String(Buffer.byteLength(body)),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(200);
    expect(up.seen).toHaveLength(1);
    const h = up.seen[0].headers;
    for (const name of ['x-forwarded-user', 'x-http-method-override', 'cookie', 'authorization', 'x-custom-identity']) expect(h[name], name).toBeUndefined();
    expect(JSON.stringify(up.seen[0])).not.toContain(token);
    expect(JSON.stringify(up.seen[0])).not.toContain('browser-secret');
    // what does pass: the allow-list, and what the gateway sets itself
    expect(h['user-agent']).toBe('forwarding-test/1');
    expect(h.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(h.accept).toBe('application/json, text/event-stream');
    expect(h['mcp-protocol-version']).toBe('2025-06-18');
    expect(h['mcp-session-id']).toBe('scripted-session');
    const names = Object.keys(h).sort();
    expect(names).toEqual(['accept', 'accept-encoding', 'connection', 'content-length', 'content-type', 'host', 'mcp-protocol-version', 'mcp-session-id', 'traceparent', 'user-agent']);
  });
});
