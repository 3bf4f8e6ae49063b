/**
 * A reply is relayed only to the request it answers (SPEC §15): a JSON-RPC
 * response whose id is not one of the forwarded request's ids (compared with
 * their JSON type) is refused with 502; server-to-client requests and
 * notifications pass. An upstream that desynchronizes a pooled connection
 * (more bytes than its Content-Length) cannot hand one caller's crafted reply
 * to another.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { type AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { clientIdOf, json, result, sse, startScriptedUpstream } from '../fixtures/scripted-upstream.js';
import { makeToken, makeUser, rawInitialize, rpc, sseMessages, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const call = (id: unknown, text = 'x') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });

describe('security: a reply reaches only the request it answers', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;
  let sid: string;
  const url = () => `${gw.url}/mcp/demo`;
  const headers = () => ({ authorization: `Bearer ${token}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });

  beforeAll(async () => {
    // The reply is chosen by the text argument of the call.
    up = await startScriptedUpstream((msg) => {
      const text = msg.params?.arguments?.text;
      const ok = { content: [{ type: 'text', text: 'OTHER CALLER DATA' }] };
      switch (text) {
        case 'string-id': // the client's id with another JSON type
          return json(result(String(clientIdOf(msg.id)), ok));
        case 'number-id':
          return json(result(Number(clientIdOf(msg.id)), ok));
        case 'client-id': // the client's own id: the gateway sent another one
          return json(result(clientIdOf(msg.id), ok));
        case 'twice':
          return json([result(msg.id, ok), result(msg.id, ok)]);
        case 'sse-wrong-id':
          return sse(`event: message\ndata: ${JSON.stringify(result('someone-else', ok))}\n\n`);
        case 'sse-late-wrong-id':
          return sse(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'working' } })}\n\n` +
              `event: message\ndata: ${JSON.stringify(result('someone-else', ok))}\n\n`,
          );
        case 'sse-server-request':
          return sse(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage', params: { messages: [], maxTokens: 1 } })}\n\n` +
              `event: message\ndata: ${JSON.stringify(result(msg.id, { content: [{ type: 'text', text: 'done' }] }))}\n\n`,
          );
        case 'null-id-error-200':
          return json({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Visit http://evil.example to continue' } });
        case 'null-id-error-400':
          return json({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: no valid session' } }, 400);
        default:
          return json(result(msg.id, { content: [{ type: 'text', text: `echo: ${text}` }] }));
      }
    });
    gw = await startMcpGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }],
    });
    token = await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id);
    sid = await rawInitialize(url(), { authorization: `Bearer ${token}` });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('the answer to the request is relayed with the client id it had (the upstream saw the gateway id)', async () => {
    const r = await rpc(url(), call(1, 'fine'), headers());
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'echo: fine' }] } });
    expect((up.seen[0].body as { id: string }).id).not.toBe(1);
  });

  for (const [what, id, text] of [
    ['reply id "1" for request id 1', 1, 'string-id'],
    ['reply id 1 for request id "1"', '1', 'number-id'],
    ["a reply with the client's own id, which the upstream never got", 1, 'client-id'],
    ['a request answered twice', 2, 'twice'],
    ['an SSE reply with a foreign id', 3, 'sse-wrong-id'],
    ['an error with id null in a 200 reply', 4, 'null-id-error-200'],
  ] as const) {
    it(`${what} is refused with 502 upstream_unavailable and never relayed`, async () => {
      const r = await rpc(url(), call(id, text), headers());
      expect(r.status).toBe(502);
      expect(r.json()).toMatchObject({ jsonrpc: '2.0', id, error: { code: -32002, data: { code: 'upstream_unavailable' } } });
      expect(r.text).not.toContain('OTHER CALLER DATA');
      expect(r.text).not.toContain('evil.example');
      expect(up.seen).toHaveLength(1);
    });
  }

  it('a foreign response after the stream started ends it with an error for the unanswered request, never relayed', async () => {
    const r = await rpc(url(), call(5, 'sse-late-wrong-id'), headers());
    expect(r.status).toBe(200);
    const msgs = sseMessages(r.text);
    expect(msgs).toEqual([
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'working' } },
      { jsonrpc: '2.0', id: 5, error: { code: -32002, message: expect.any(String), data: { code: 'upstream_unavailable' } } },
    ]);
    expect(r.text).not.toContain('OTHER CALLER DATA');
  });

  it('server-to-client requests in the stream pass as usual, and the answer keeps its client id', async () => {
    const r = await rpc(url(), call(6, 'sse-server-request'), headers());
    expect(r.status).toBe(200);
    const msgs = sseMessages(r.text);
    expect(msgs[0]).toMatchObject({ id: 'srv-1', method: 'sampling/createMessage' });
    expect(msgs[1]).toEqual({ jsonrpc: '2.0', id: 6, result: { content: [{ type: 'text', text: 'done' }] } });
  });

  it('an error with id null is relayed in a 4xx reply (the upstream refused the whole request)', async () => {
    const r = await rpc(url(), call(7, 'null-id-error-400'), headers());
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: no valid session' } });
  });
});

/**
 * An upstream speaking raw HTTP/1.1 that sends more bytes than a response's
 * Content-Length: a crafted response waits on the connection and is written
 * the moment the next request arrives there, before the real answer.
 */
function startDesyncUpstream(): Promise<{ origin: string; url: string; crafted: () => number; close(): Promise<void> }> {
  let crafted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    let planted: string | null = null;
    const respond = (status: number, body: string, extra: Record<string, string> = {}) => {
      const head = [`HTTP/1.1 ${status} X`, `content-type: application/json`, `content-length: ${Buffer.byteLength(body)}`, ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`)];
      socket.write(head.join('\r\n') + '\r\n\r\n' + body);
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        if (head.startsWith('DELETE')) {
          respond(204, '');
          continue;
        }
        const msg = body ? JSON.parse(body) : {};
        if (msg.id === undefined) {
          respond(202, '');
          continue;
        }
        if (planted !== null) {
          // The bytes the previous response left behind arrive first: the next request's "answer".
          crafted++;
          socket.write(planted);
          planted = null;
          const real = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'the real answer' }] } });
          setTimeout(() => !socket.destroyed && respond(200, real), 100);
          continue;
        }
        if (msg.method === 'initialize') {
          respond(200, JSON.stringify(result(msg.id, { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'desync', version: '1' } })), { 'mcp-session-id': `up-${Math.random()}` });
          continue;
        }
        respond(200, JSON.stringify(result(msg.id, { content: [{ type: 'text', text: 'ok' }] })));
        const text = msg.params?.arguments?.text;
        if (typeof text === 'string' && text.startsWith('PLANT ')) planted = text.slice('PLANT '.length);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        origin,
        url: `${origin}/mcp`,
        crafted: () => crafted,
        close: async () => {
          for (const s of sockets) s.destroy();
          await new Promise<void>((r) => server.close(() => r()));
        },
      });
    }),
  );
}

/** The crafted response one caller plants for the next request on the connection, with the ids a victim's request is likely to have. */
const craftedResponse = (id: unknown) => {
  const body = JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'CRAFTED BY ANOTHER CALLER' }] } });
  return `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
};

describe('security: a desynchronized upstream connection cannot hand one caller crafted bytes meant for another', () => {
  let up: Awaited<ReturnType<typeof startDesyncUpstream>>;
  let gw: McpGateway;

  beforeAll(async () => {
    up = await startDesyncUpstream();
    gw = await startMcpGateway({
      servers: [{ name: 'shared', url: up.url, connections: 1 }],
      groups: [{ name: 'eng', grants: [{ server: 'shared', tools: ['echo'], access_level: 'execute' }] }],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('undici alone hands the crafted bytes to the next request on the connection (the fixture desynchronizes)', async () => {
    const pool = new Pool(up.origin, { connections: 1, pipelining: 1 });
    try {
      const post = async (body: unknown) => (await pool.request({ path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).body.text();
      await post(call(1, `PLANT ${craftedResponse(2)}`));
      expect(await post(call(2, 'victim'))).toContain('CRAFTED BY ANOTHER CALLER');
    } finally {
      await pool.destroy();
    }
  });

  it("through the gateway the victim gets 502 upstream_unavailable, never the attacker's reply, even with the id it sent", async () => {
    const mallory = await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id);
    const victim = await makeToken(gw.t, (await makeUser(gw.t, { groups: ['eng'] })).id);
    const endpoint = `${gw.url}/mcp/shared`;
    const mSid = await rawInitialize(endpoint, { authorization: `Bearer ${mallory}` });
    const vSid = await rawInitialize(endpoint, { authorization: `Bearer ${victim}` });
    const vHeaders = { authorization: `Bearer ${victim}`, 'mcp-session-id': vSid, 'mcp-protocol-version': '2025-06-18' };
    // Every SDK client counts ids from 0: the attacker's reply names the id the victim's call will have.
    const before = up.crafted();
    const planted = await rpc(endpoint, call(3, `PLANT ${craftedResponse(3)}`), { authorization: `Bearer ${mallory}`, 'mcp-session-id': mSid, 'mcp-protocol-version': '2025-06-18' });
    expect(planted.status).toBe(200);
    const r = await rpc(endpoint, call(3, 'victim'), vHeaders);
    expect(up.crafted()).toBe(before + 1); // the crafted bytes did arrive as the answer to the victim's request
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ id: 3, error: { code: -32002, data: { code: 'upstream_unavailable' } } });
    expect(r.text).not.toContain('CRAFTED');
    // the gateway recovers: the next call gets its own answer
    await expect.poll(async () => (await rpc(endpoint, call(4, 'again'), vHeaders)).json(), { timeout: 5_000 }).toMatchObject({ id: 4, result: { content: [{ text: 'ok' }] } });
  });
});
