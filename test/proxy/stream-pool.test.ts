/**
 * Regression: GET event streams used to share the upstream's bounded
 * keep-alive pool (`connections`), so once that many streams were open every
 * further request to the upstream queued forever (tools/call hung).
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeToken, makeUser, rpc, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

let upstream: Server;
let openStreams = 0;

function startUpstream(): Promise<string> {
  upstream = createServer((req, res) => {
    if (req.method === 'GET') {
      openStreams++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      req.on('close', () => openStreams--);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(chunks).toString());
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (msg.method === 'initialize') headers['mcp-session-id'] = 'up-session';
      if (msg.id === undefined) return void res.writeHead(202).end();
      const result = msg.method === 'tools/call' ? { content: [{ type: 'text', text: 'pong' }] } : { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'u', version: '1' } };
      res.writeHead(200, headers).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    });
  });
  return new Promise((r) => upstream.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`)));
}

function openStream(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers: { accept: 'text/event-stream', ...headers } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

describe('open event streams never starve request traffic', () => {
  let gw: McpGateway;
  let token: string;
  beforeAll(async () => {
    const url = await startUpstream();
    gw = await startMcpGateway({
      servers: [{ name: 'tiny', url, connections: 2 }],
      groups: [{ name: 'g', grants: [{ server: 'tiny', tools: ['*'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { groups: ['g'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream?.close(() => r()));
  });

  it('with connections: 2 and three open GET streams, tools/call still answers', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const init = await rpc(`${gw.url}/mcp/tiny`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, auth);
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    const streams = await Promise.all([0, 1, 2].map(() => openStream(`${gw.url}/mcp/tiny`, { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' })));
    for (const s of streams) expect(s.statusCode).toBe(200);
    expect(openStreams).toBe(3);
    const call = await rpc(`${gw.url}/mcp/tiny`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ping', arguments: {} } }, { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect(call.status).toBe(200);
    expect(call.json().result.content[0].text).toBe('pong');
    for (const s of streams) s.destroy();
  });
});
