/**
 * Credentials are checked before a body is read (SPEC §15): an
 * unauthenticated client cannot make the gateway wait for, or hold, a large
 * body. The refusal arrives while most of the body is still unsent; the
 * upstream sees nothing.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const DECLARED = 4_000_000;

/** Send a head declaring a DECLARED-byte body and only its first KiB; resolve with the first response head and body. */
function partialBody(port: number, method: string, path: string, headers: string[] = []): Promise<{ status: number; text: string; socket: Socket; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => reject(new Error('no answer while the body was still unsent')), 3_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (end !== -1 && len && text.length - end - 4 >= Number(len[1])) {
        clearTimeout(timer);
        resolve({ status: Number(text.slice(9, 12)), text: text.slice(end + 4), socket, ms: Date.now() - t0 });
      }
    });
    socket.on('error', () => {});
    socket.once('connect', () =>
      socket.write(
        [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${DECLARED}`, ...headers, '', ''].join('\r\n') +
          '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' +
          'x'.repeat(900),
      ),
    );
  });
}

describe('security: credentials are checked before the body is read', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let port: number;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({ servers: [{ name: 'demo', url: up.url }] });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('an unauthenticated 4 MB POST to /mcp gets 401 before its body is sent; nothing reaches the upstream', async () => {
    const r = await partialBody(port, 'POST', '/mcp/demo');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error.data.code).toBe('unauthenticated');
    r.socket.destroy();
    expect(up.seen).toEqual([]);
  });

  it('a bad token with a 4 MB POST to /mcp gets 401 invalid_token before its body is sent; nothing reaches the upstream', async () => {
    const r = await partialBody(port, 'POST', '/mcp/demo', ['Authorization: Bearer pcl_not-a-real-token']);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error.data.code).toBe('invalid_token');
    r.socket.destroy();
    expect(up.seen).toEqual([]);
  });

  it('forty such connections at once are all refused without waiting for their bodies', async () => {
    const all = await Promise.all(Array.from({ length: 40 }, () => partialBody(port, 'POST', '/mcp/demo')));
    expect(all.map((r) => r.status)).toEqual(Array(40).fill(401));
    for (const r of all) r.socket.destroy();
    expect(up.seen).toEqual([]);
  });

  it('a path no route takes is answered 404 before its body is read', async () => {
    const r = await partialBody(port, 'POST', '/no/such/route');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).code).toBe('not_found');
    r.socket.destroy();
  });

  it('an authenticated management endpoint refuses an unauthenticated body before reading it (401 unauthenticated)', async () => {
    const r = await partialBody(port, 'POST', '/api/v1/groups');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).code).toBe('unauthenticated');
    r.socket.destroy();
  });
});
