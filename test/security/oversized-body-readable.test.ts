/**
 * A refusal of an oversized body is readable by a client that writes its
 * whole body before it reads (Node's plain `http.request`): the gateway
 * keeps reading and discarding the rest, within a bound, instead of
 * resetting the connection (which such a client sees as EPIPE). Nothing
 * reaches the upstream.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { rawRoundTrip } from '../helpers/raw-http.js';

const BODY = Buffer.alloc(4.5 * 1024 * 1024, 0x20);

/** A plain node:http client writing the whole body in one go, then reading the answer. */
function writeWhole(url: string, headers: Record<string, string>, chunked = false): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(BODY.length) }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

describe('security: an oversized body gets a readable refusal, not a reset', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let token: string;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'admins', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }],
    });
    const u = await makeUser(gw.t, { role: 'admin', groups: ['admins'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('http.request writing 4.5 MiB to /mcp reads 413 payload_too_large; nothing reaches the upstream', async () => {
    const r = await writeWhole(`${gw.url}/mcp/demo`, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(413);
    expect(r.body.error.data.code).toBe('payload_too_large');
    expect(up.seen).toEqual([]);
  });

  it('the same with a chunked body (no Content-Length): 413 payload_too_large; nothing reaches the upstream', async () => {
    const r = await writeWhole(`${gw.url}/mcp/demo`, { authorization: `Bearer ${token}` }, true);
    expect(r.status).toBe(413);
    expect(r.body.error.data.code).toBe('payload_too_large');
    expect(up.seen).toEqual([]);
  });

  it('without a credential the 401 is readable too; nothing reaches the upstream', async () => {
    const r = await writeWhole(`${gw.url}/mcp/demo`, {});
    expect(r.status).toBe(401);
    expect(r.body.error.data.code).toBe('unauthenticated');
    expect(up.seen).toEqual([]);
  });

  it('on the management API: 413 payload_too_large, readable', async () => {
    const r = await writeWhole(`${gw.url}/api/v1/groups`, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('payload_too_large');
  });

  it('after the discarded body the connection serves the next request', async () => {
    const port = Number(new URL(gw.url).port);
    const big = Buffer.concat([
      Buffer.from(`POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n`),
      BODY,
    ]);
    const first = await rawRoundTrip(port, big);
    expect(first.status).toBe(413);
    const second = await new Promise<string>((resolve) => {
      let text = '';
      first.socket.removeAllListeners('data');
      first.socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (/\r\n\r\n\{"status":"ok"\}$/.test(text)) resolve(text);
      });
      first.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    });
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    first.socket.destroy();
    expect(up.seen).toEqual([]);
  });
});
