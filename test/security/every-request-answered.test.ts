/**
 * Every request is answered, whatever its method, path spelling or
 * request-target form (SPEC §15): requests are routed once, on one
 * normalized path, and an unknown method on a known path gets 405 — never
 * silence. Requests go over raw sockets so each spelling reaches the server
 * as written. Each case asserts the status, the error code and that the
 * upstream saw nothing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { makeToken, makeUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { rawRoundTrip, type RawResponse } from '../helpers/raw-http.js';

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

/** One raw request; `target` is written exactly as given. */
function send(port: number, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<RawResponse> {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Accept: application/json, text/event-stream'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body || method === 'POST') lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return rawRoundTrip(port, `${lines.join('\r\n')}\r\n\r\n${body}`);
}

const code = (r: RawResponse) => {
  const b = JSON.parse(r.body);
  return b.code ?? b.error?.data?.code;
};

describe('security: every request is answered, on one normalized path', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let port: number;
  let token: string;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['*'], access_level: 'execute' }] }],
    });
    port = Number(new URL(gw.url).port);
    const u = await makeUser(gw.t, { groups: ['eng'] });
    token = await makeToken(gw.t, u.id);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  it('HEAD /mcp/demo gets 405 method_not_allowed with Allow; nothing reaches the upstream', async () => {
    const r = await send(port, 'HEAD', '/mcp/demo', { Authorization: `Bearer ${token}` });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('DELETE, GET, POST');
    expect(up.seen).toEqual([]);
  });

  it('an unknown method on a known path gets 405 method_not_allowed with Allow; nothing reaches the upstream', async () => {
    for (const method of ['PUT', 'PATCH', 'OPTIONS']) {
      const r = await send(port, method, '/mcp/demo', { Authorization: `Bearer ${token}` }, method === 'OPTIONS' ? '' : INIT);
      expect(r.status, method).toBe(405);
      expect(code(r), method).toBe('method_not_allowed');
      expect(r.headers.allow, method).toBe('DELETE, GET, POST');
    }
    const api = await send(port, 'DELETE', '/api/v1/auth/login');
    expect([api.status, code(api), api.headers.allow]).toEqual([405, 'method_not_allowed', 'POST']);
    expect(up.seen).toEqual([]);
  });

  it('GET /%6dcp/demo reaches the MCP route (normalized): 401 with its challenge; nothing reaches the upstream', async () => {
    const r = await send(port, 'GET', '/%6dcp/demo');
    expect(r.status).toBe(401);
    expect(code(r)).toBe('unauthenticated');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer resource_metadata=".*\/\.well-known\/oauth-protected-resource\/mcp\/demo"$/);
    expect(up.seen).toEqual([]);
  });

  it('an absolute-form target reaches the MCP route: 401 without a credential; nothing reaches the upstream', async () => {
    for (const target of [`http://127.0.0.1:${port}/mcp/demo`, 'HTTP://gateway.example/mcp/demo?x=1', `http://127.0.0.1:${port}//mcp/%64emo`]) {
      const r = await send(port, 'POST', target, {}, INIT);
      expect(r.status, target).toBe(401);
      expect(code(r), target).toBe('unauthenticated');
    }
    expect(up.seen).toEqual([]);
  });

  it('an absolute-form target with a credential is served like its origin form', async () => {
    const r = await send(port, 'POST', `http://127.0.0.1:${port}/mcp/demo`, { Authorization: `Bearer ${token}` }, INIT);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).result.serverInfo).toBeDefined();
    expect(up.rpcMethods()).toEqual(['initialize']);
  });

  it('case is significant: /MCP/demo gets 404 not_found; nothing reaches the upstream', async () => {
    const r = await send(port, 'POST', '/MCP/demo', { Authorization: `Bearer ${token}` }, INIT);
    expect(r.status).toBe(404);
    expect(code(r)).toBe('not_found');
    expect(up.seen).toEqual([]);
  });

  it('targets that could be read two ways get 400 bad_request; nothing reaches the upstream', async () => {
    for (const target of ['/mcp%2fdemo', '/mcp/%2Fdemo', '/mcp/demo%5c', '/mcp/x/../demo', '/mcp/x/%2e%2e/demo', '/mcp/./demo', '/mcp/demo%00', '/mcp/de%zzmo', '*']) {
      const r = await send(port, 'POST', target, { Authorization: `Bearer ${token}` }, INIT);
      expect(r.status, target).toBe(400);
      expect(code(r), target).toBe('bad_request');
    }
    expect(up.seen).toEqual([]);
  });

  it('duplicate slashes collapse: //mcp//demo is /mcp/demo (401 without a credential)', async () => {
    const r = await send(port, 'POST', '//mcp//demo', {}, INIT);
    expect(r.status).toBe(401);
    expect(code(r)).toBe('unauthenticated');
    expect(up.seen).toEqual([]);
  });

  it('an unknown path gets 404 not_found', async () => {
    const r = await send(port, 'GET', '/nothing/here');
    expect([r.status, code(r)]).toEqual([404, 'not_found']);
  });
});

describe('security: requests of every odd shape do not pin the gateway', () => {
  it('300 connections of HEAD, percent-encoded and absolute-form requests are all answered, and close finishes promptly', async () => {
    const up = await startHttpUpstream({ json: true });
    const gw = await startMcpGateway({ server: { shutdown_timeout: '10s' }, servers: [{ name: 'demo', url: up.url }] });
    try {
      const port = Number(new URL(gw.url).port);
      const shapes = [
        () => send(port, 'HEAD', '/mcp/demo'),
        () => send(port, 'GET', '/%6dcp/demo'),
        () => send(port, 'POST', `http://127.0.0.1:${port}/mcp/demo`, {}, INIT),
      ];
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => shapes[i % 3]()));
      expect(answers.map((r) => r.status).sort()).toEqual([...Array(100).fill(401), ...Array(100).fill(401), ...Array(100).fill(405)]);
      expect(up.seen).toEqual([]);
      // The connections are still open (idle keep-alive): the drain closes them at once instead of waiting shutdown_timeout.
      expect(answers.filter((r) => !r.socket.destroyed).length).toBeGreaterThan(0);
      const app = gw.t.app;
      const drained = await app.services.lifecycle.drain(app.http.server, () => app.http.close(), 10_000);
      expect(drained.forced).toBe(0);
      expect(drained.durationMs).toBeLessThan(5_000);
      for (const r of answers) r.socket.destroy();
      await gw.close();
    } finally {
      await up.close();
    }
  });
});
