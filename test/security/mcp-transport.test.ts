/**
 * Transport-level defences of the MCP endpoint: authentication challenge,
 * credentials never forwarded, Origin, body limit, malformed bodies, unknown
 * servers, failing and slow upstreams. Each test asserts status, error code
 * and what (if anything) reached the upstream.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, startRawUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, rawInitialize, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { refusingPort } from '../helpers/raw-http.js';

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };

/**
 * One raw HTTP/1.1 exchange: `parts` are written with a pause between them
 * (a body trickling in after its headers); resolves with the status and body
 * of the first response (the gateway answers with Content-Length).
 */
function rawExchange(url: string, parts: string[], pauseMs = 50): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      raw += d;
      const head = raw.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(raw);
      if (head !== -1 && len && Buffer.byteLength(raw.slice(head + 4)) >= Number(len[1])) {
        socket.destroy();
        resolve({ status: Number(raw.slice(9, 12)), body: raw.slice(head + 4) });
      }
    });
    socket.once('error', reject);
    socket.once('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        socket.write(part);
      }
    });
  });
}

describe('security: MCP transport defences', () => {
  let up: FixtureUpstream;
  let slow: FixtureUpstream;
  let gzip: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    // answers nothing for 2 s: longer than the server timeout below
    slow = await startRawUpstream((_req, res) => {
      const t = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 2_000);
      res.on('close', () => clearTimeout(t));
    });
    // answers tools/list gzip-encoded although the gateway asked for identity
    gzip = await startRawUpstream((_req, res, raw) => {
      const msg = JSON.parse(raw);
      if (msg.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'gz', version: '1' } } }));
        return;
      }
      if (msg.method !== 'tools/list') {
        res.writeHead(202).end();
        return;
      }
      const body = gzipSync(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { tools: [{ name: 'echo' }, { name: 'secret_tool' }] } }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(body);
    });
    gw = await startMcpGateway({
      server: { public_url: 'http://gateway.test:8443', body_limit: '8KiB' },
      servers: [
        { name: 'demo', url: up.url, headers: { 'X-Upstream-Key': 'from-config' } },
        { name: 'down', url: `http://127.0.0.1:${await refusingPort()}/mcp` },
        { name: 'slow', url: slow.url, timeout: '300ms' },
        { name: 'gzip', url: gzip.url },
      ],
      groups: [{ name: 'eng', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await slow?.close();
    await gzip?.close();
  });
  beforeEach(() => {
    up.reset();
    slow.reset();
  });

  it('no credentials: 401 with resource_metadata challenge; nothing forwarded', async () => {
    const r = await rpc(`${gw.url}/mcp/demo`, INIT);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer resource_metadata="http://gateway.test:8443/.well-known/oauth-protected-resource/mcp/demo"');
    expect(r.json().error.data.code).toBe('unauthenticated');
    expect(up.seen).toEqual([]);
  });

  it('a bad token: 401 with error="invalid_token"; nothing forwarded', async () => {
    const r = await rpc(`${gw.url}/mcp/demo`, INIT, { authorization: 'Bearer pcl_not-a-real-token' });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(r.headers.get('www-authenticate')).toContain('resource_metadata="http://gateway.test:8443/.well-known/oauth-protected-resource/mcp/demo"');
    expect(up.seen).toEqual([]);
  });

  it('credentials in the query string are refused', async () => {
    const r = await rpc(`${gw.url}/mcp/demo?access_token=${token}`, INIT);
    expect(r.status).toBe(401);
    expect(r.json().error.data.code).toBe('credentials_in_query');
    expect(up.seen).toEqual([]);
  });

  it('RFC 9728 metadata names the exact resource, the authorization server and the scopes', async () => {
    const r = await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp/demo`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      resource: 'http://gateway.test:8443/mcp/demo',
      authorization_servers: ['http://gateway.test:8443'],
      scopes_supported: ['mcp:read', 'mcp:execute'],
    });
    const root = await fetch(`${gw.url}/.well-known/oauth-protected-resource`);
    expect((await root.json()).resource).toBe('http://gateway.test:8443');
    expect((await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);
  });

  it("the client's Authorization, X-API-Key, cookies and hop-by-hop headers never reach the upstream", async () => {
    const sid = await rawInitialize(`${gw.url}/mcp/demo`, { 'x-api-key': token, cookie: 'sid=browser-cookie' });
    up.reset();
    // node:http, because fetch refuses to send Connection/Keep-Alive/TE itself
    const u = new URL(`${gw.url}/mcp/demo`);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'h' } } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: {
        'x-api-key': token,
        cookie: 'sid=browser-cookie; other=1',
        'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        connection: 'keep-alive, x-hop-secret',
        'x-hop-secret': 'hop-value',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-06-18',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'content-length': String(Buffer.byteLength(body)),
      } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(200);
    expect(up.seen).toHaveLength(1);
    const h = up.seen[0].headers;
    for (const name of ['authorization', 'x-api-key', 'cookie', 'proxy-authorization', 'x-hop-secret', 'keep-alive', 'te'])
      expect(h[name], name).toBeUndefined();
    expect(h['x-upstream-key']).toBe('from-config');
    expect(h.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(h['mcp-protocol-version']).toBe('2025-06-18');
    // the upstream sees its own session id, not the gateway's
    expect(h['mcp-session-id']).toBeTruthy();
    expect(h['mcp-session-id']).not.toBe(sid);
    expect(JSON.stringify(up.seen)).not.toContain(token);
    expect(JSON.stringify(up.seen)).not.toContain('browser-cookie');
  });

  it('a disallowed Origin gets 403 origin_not_allowed; localhost origins are allowed on a loopback gateway', async () => {
    const bad = await rpc(`${gw.url}/mcp/demo`, INIT, { ...auth(), origin: 'http://evil.example' });
    expect(bad.status).toBe(403);
    expect(bad.json().error.data.code).toBe('origin_not_allowed');
    expect(up.seen).toEqual([]);
    const good = await rpc(`${gw.url}/mcp/demo`, INIT, { ...auth(), origin: 'http://localhost:6274' });
    expect(good.status).toBe(200);
  });

  it('a body over server.body_limit gets 413 and is not forwarded', async () => {
    const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(10_000) } } };
    const r = await rpc(`${gw.url}/mcp/demo`, big, auth());
    expect(r.status).toBe(413);
    expect(r.json().error.data.code).toBe('payload_too_large');
    expect(up.seen).toEqual([]);
  });

  const head = (extra: string) =>
    `POST /mcp/demo HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${extra}\r\n`;
  const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;

  it('a chunked body over server.body_limit (no Content-Length) gets 413 and is not forwarded, whether it arrives whole or in parts', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(10_000) } } });
    const whole = await rawExchange(gw.url, [head('Transfer-Encoding: chunked\r\n') + chunked(big)]);
    expect(whole.status).toBe(413);
    expect(JSON.parse(whole.body).error.data.code).toBe('payload_too_large');
    const parts = await rawExchange(gw.url, [head('Transfer-Encoding: chunked\r\n'), chunked(big).slice(0, 5_000), chunked(big).slice(5_000)]);
    expect(parts.status).toBe(413);
    expect(JSON.parse(parts.body).error.data.code).toBe('payload_too_large');
    expect(up.seen).toEqual([]);
  });

  it('a body is forwarded exactly, whether it arrived with its headers or trickled in after them', async () => {
    const body = JSON.stringify(INIT);
    const whole = await rawExchange(gw.url, [head(`Content-Length: ${Buffer.byteLength(body)}\r\n`) + body]);
    expect(whole.status).toBe(200);
    const trickled = await rawExchange(gw.url, [head(`Content-Length: ${Buffer.byteLength(body)}\r\n`), body.slice(0, 10), body.slice(10, 40), body.slice(40)]);
    expect(trickled.status).toBe(200);
    const split = await rawExchange(gw.url, [head('Transfer-Encoding: chunked\r\n'), chunked(body).slice(0, 30), chunked(body).slice(30)]);
    expect(split.status).toBe(200);
    for (const r of [whole, trickled, split]) expect(JSON.parse(r.body).result.serverInfo).toBeTruthy();
    // the message as sent, with the gateway's own request id (upstream-ids.ts) in place of the client's
    const forwarded = { ...INIT, id: expect.stringMatching(/^[\w-]{22}\.1$/) };
    expect(up.seen.map((s) => s.body)).toEqual([forwarded, forwarded, forwarded]);
  });

  it('invalid JSON gets 400 with JSON-RPC -32700; not forwarded', async () => {
    const r = await rpc(`${gw.url}/mcp/demo`, '{"jsonrpc": "2.0", "id": 1, "method": ', auth());
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    expect(up.seen).toEqual([]);
  });

  it('JSON that is not JSON-RPC gets 400 with -32600; not forwarded', async () => {
    for (const body of [{ hello: 'world' }, [], { jsonrpc: '1.0', id: 1, method: 'x' }, { jsonrpc: '2.0', id: {}, method: 'x' }]) {
      const r = await rpc(`${gw.url}/mcp/demo`, body, auth());
      expect(r.status).toBe(400);
      expect(r.json().error.code).toBe(-32600);
    }
    expect(up.seen).toEqual([]);
  });

  it('a non-JSON content type gets 415', async () => {
    const r = await fetch(`${gw.url}/mcp/demo`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'hi' });
    expect(r.status).toBe(415);
    expect(up.seen).toEqual([]);
  });

  it('an unknown server gets 404 unknown_server', async () => {
    const r = await rpc(`${gw.url}/mcp/nope`, INIT, auth());
    expect(r.status).toBe(404);
    expect(r.json().error.data.code).toBe('unknown_server');
  });

  it('an unreachable upstream gets 502 with a JSON-RPC error carrying the request id', async () => {
    const r = await rpc(`${gw.url}/mcp/down`, INIT, auth());
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ id: 1, error: { code: -32002, data: { code: 'upstream_unavailable' } } });
    expect(r.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });

  it('an upstream slower than the server timeout gets 504', async () => {
    const t0 = Date.now();
    const r = await rpc(`${gw.url}/mcp/slow`, INIT, auth());
    expect(r.status).toBe(504);
    expect(r.json()).toMatchObject({ id: 1, error: { code: -32004, data: { code: 'upstream_timeout' } } });
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(slow.seen).toHaveLength(1);
  });

  it('DELETE of the own session ends it at the gateway and upstream; the id is dead afterwards', async () => {
    const sid = await rawInitialize(`${gw.url}/mcp/demo`, auth());
    up.reset();
    const del = await fetch(`${gw.url}/mcp/demo`, { method: 'DELETE', headers: { ...auth(), 'mcp-session-id': sid } });
    expect(del.status).toBe(204);
    expect(up.seen.map((s) => s.method)).toEqual(['DELETE']);
    const after = await rpc(`${gw.url}/mcp/demo`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...auth(), 'mcp-session-id': sid });
    expect(after.status).toBe(404);
    expect(await gw.t.store.mcpSessions.get(sid)).toBeUndefined();
  });

  it('a list answer the gateway cannot read (encoded despite accept-encoding: identity) is refused, never relayed unfiltered', async () => {
    const r = await rpc(`${gw.url}/mcp/gzip`, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { ...auth(), 'accept-encoding': 'gzip' });
    expect(r.status).toBe(502);
    expect(r.json().error.data.code).toBe('upstream_unavailable');
    const listReq = gzip.seen.find((x) => x.raw.includes('tools/list'))!;
    expect(listReq.headers['accept-encoding']).toBe('identity');
  });
});
