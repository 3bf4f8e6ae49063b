/**
 * Rate limits apply to the route a request reaches, whatever the spelling of
 * its path (SPEC §15): percent-encoded characters, duplicate slashes and
 * absolute-form targets meet the same per-IP budget as the plain path.
 * Requests go over raw sockets so each spelling reaches the server as
 * written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { startMcpGateway, type McpGateway } from '../helpers/mcp.js';
import { rawRoundTrip, type RawResponse } from '../helpers/raw-http.js';

function post(port: number, target: string, body: string): Promise<RawResponse> {
  return rawRoundTrip(
    port,
    `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const code = (r: RawResponse) => {
  const b = JSON.parse(r.body);
  return b.code ?? b.error?.data?.code;
};

describe('security: per-IP limits apply to every spelling of a path', () => {
  let up: FixtureUpstream;
  let gw: McpGateway;
  let port: number;

  beforeAll(async () => {
    up = await startHttpUpstream({ json: true });
    gw = await startMcpGateway({ servers: [{ name: 'demo', url: up.url }], rate_limits: { per_ip: { requests: 2, per: '1h' } } });
    port = Number(new URL(gw.url).port);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('once the budget is spent, /%61pi/v1/auth/register, //api/v1/auth/register and the absolute form all get 429 rate_limited', async () => {
    const body = JSON.stringify({ email: 'spelled@example.com', password: 'x' });
    // The budget (2) is spent on the plain path: these are validated (422), not limited.
    for (let i = 0; i < 2; i++) expect((await post(port, '/api/v1/auth/register', body)).status).toBe(422);
    const users = await gw.t.store.users.list();
    for (const target of ['/%61pi/v1/auth/register', '//api/v1/auth/register', '/api/v1//auth/%72egister', `http://127.0.0.1:${port}/api/v1/auth/register`]) {
      const r = await post(port, target, JSON.stringify({ email: 'new-user@example.com', password: 'correct horse battery' }));
      expect(r.status, target).toBe(429);
      expect(code(r), target).toBe('rate_limited');
      expect(Number(r.headers['retry-after']), target).toBeGreaterThanOrEqual(1);
    }
    // nothing was registered past the limit
    expect(await gw.t.store.users.list()).toEqual(users);
  });

  it('the MCP endpoint: /%6dcp/demo and the absolute form get 429 with a JSON-RPC error; nothing reaches the upstream', async () => {
    up.reset();
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
    for (const target of ['/%6dcp/demo', '/mcp/%64emo', `http://127.0.0.1:${port}/mcp/demo`]) {
      const r = await post(port, target, init);
      expect(r.status, target).toBe(429);
      expect(JSON.parse(r.body).error.code, target).toBe(-32029);
      expect(code(r), target).toBe('rate_limited');
    }
    expect(up.seen).toEqual([]);
  });
});
