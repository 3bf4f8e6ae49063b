/**
 * A hostile JSON body costs milliseconds, not the event loop (SPEC §15):
 * bodies are parsed with bounded depth and size. Three megabytes of `[`
 * take V8's JSON.parse over a second to refuse; the gateway refuses them
 * (413 on the unauthenticated login endpoint, whose limit is 64 KiB; 400 on
 * an authenticated endpoint whose limit is larger) while a concurrent
 * /healthz is answered promptly. The event loop's longest stall is held to
 * a fraction of what one unbounded JSON.parse of the same body costs in this
 * process, measured first (so a loaded machine slows both alike).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeToken, makeUser, startMcpGateway, type McpGateway } from '../helpers/mcp.js';

const HOSTILE = '['.repeat(3_000_000);

describe('security: hostile JSON bodies are cheap to refuse', () => {
  let gw: McpGateway;
  let token: string;
  /** Milliseconds one JSON.parse of the hostile body takes here. */
  let unboundedMs: number;

  beforeAll(async () => {
    gw = await startMcpGateway({});
    const u = await makeUser(gw.t, { role: 'admin' });
    token = await makeToken(gw.t, u.id);
    const t0 = performance.now();
    expect(() => JSON.parse(HOSTILE)).toThrow(SyntaxError);
    unboundedMs = performance.now() - t0;
    // Warm up the client side (fetch loads and compiles its modules on first use): only the gateway is measured.
    // After the unbounded parse above, so no pooled connection has sat idle through it.
    await fetch(`${gw.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    await fetch(`${gw.url}/healthz`);
  });
  afterAll(async () => gw?.close());

  /** Send the hostile body and, while it is handled, /healthz; the loop's longest stall must stay short. */
  async function hostile(path: string, headers: Record<string, string> = {}) {
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const [r, health] = await Promise.all([
      fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: HOSTILE }),
      new Promise((r) => setTimeout(r, 5)).then(() => fetch(`${gw.url}/healthz`)),
    ]);
    loop.disable();
    return { status: r.status, body: (await r.json()) as { code: string }, health: health.status, maxStallMs: loop.max / 1e6 };
  }

  it('3 MB of [ on /api/v1/auth/login: 413 payload_too_large, and /healthz answers meanwhile', async () => {
    const r = await hostile('/api/v1/auth/login');
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('payload_too_large');
    expect(r.health).toBe(200);
    expect(r.maxStallMs).toBeLessThan(Math.max(100, unboundedMs / 4));
  });

  it('3 MB of [ on an authenticated endpoint (4 MiB limit): 400 bad_request from the depth bound, and /healthz answers meanwhile', async () => {
    const r = await hostile('/api/v1/groups', { authorization: `Bearer ${token}` });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('bad_request');
    expect(r.health).toBe(200);
    expect(r.maxStallMs).toBeLessThan(Math.max(100, unboundedMs / 4));
  });

  it('JSON nested 65 deep is refused with 400; 64 deep is parsed', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const at = async (body: string) => {
      const r = await gw.t.inject({ method: 'POST', url: '/api/v1/groups', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, payload: body });
      return [r.statusCode, r.json().code];
    };
    expect(await at(deep(65))).toEqual([400, 'bad_request']);
    // 64 deep parses; the endpoint then refuses its shape (422), not its nesting
    expect(await at(deep(64))).toEqual([422, 'validation_failed']);
  });

  it('a body with a __proto__ key is refused with 400', async () => {
    const r = await gw.t.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email":"a@example.com","password":"x","__proto__":{"admin":true}}',
    });
    expect([r.statusCode, r.json().code]).toEqual([400, 'bad_request']);
  });
});
