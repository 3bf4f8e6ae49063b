import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lifecycle } from '../src/http/lifecycle.js';
import { createLogger } from '../src/lib/logger.js';
import { createHttpServer } from '../src/http/server.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { connectionRefused, slowRequest } from './helpers/raw-http.js';

/** A bare server with the gateway's HTTP settings, a slow body route, an event stream and a hanging route. */
async function drainFixture() {
  const lifecycle = new Lifecycle();
  const app = createHttpServer({ logger: createLogger('silent'), bodyLimit: 1024 * 1024, timeouts: { headers: 10_000, request: 30_000, keep_alive: 5_000 } });
  lifecycle.track(app.server);
  app.post('/slow', async (req) => ({ received: req.body }));
  app.get('/events', (_req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
    reply.raw.write(': open\n\n');
  });
  // a stream piped by fastify (how the proxy relays upstream SSE)
  const piped = { sourceClosed: false };
  app.get('/piped', (_req, reply) => {
    let n = 0;
    const src = new Readable({
      read() {
        setTimeout(() => this.push(`data: ${n++}\n\n`), 20);
      },
    });
    src.on('close', () => (piped.sourceClosed = true));
    return reply.header('content-type', 'text/event-stream').send(src);
  });
  app.get('/hang', (_req, reply) => {
    reply.hijack(); // never answers
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { lifecycle, app, port, piped };
}

/** Wait for a condition (not a fixed sleep: the machine may be loaded). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('lifecycle: bounded drain', () => {
  it('an in-flight request completes while new connections are refused', async () => {
    const { lifecycle, app, port } = await drainFixture();
    const req = await slowRequest(port, 'POST', '/slow', JSON.stringify({ hello: 'world' }));
    await until(() => lifecycle.inFlight === 1);
    const drained = lifecycle.drain(app.server, () => app.close(), 5_000);
    expect(lifecycle.shuttingDown).toBe(true);
    // the listener is closed at once: new connections are refused
    await new Promise((r) => setTimeout(r, 20));
    expect(await connectionRefused(port)).toBe(true);
    req.finish();
    const res = await req.response;
    expect(res.status).toBe(200);
    expect(res.raw).toContain('"hello":"world"');
    const result = await drained;
    expect(result.forced).toBe(0);
    expect(result.durationMs).toBeLessThan(5_000);
    // a finished response leaves the in-flight list (its 'close' listener untracks it)
    expect(lifecycle.inFlight).toBe(0);
  });

  it('standalone event streams (raw and piped) are ended cleanly at the start of the drain, not at the deadline', async () => {
    const { lifecycle, app, port, piped } = await drainFixture();
    const streaming: Promise<void>[] = [];
    const open = (path: string) =>
      new Promise<number>((resolve, reject) => {
        streaming.push(
          new Promise<void>((started) =>
            http.get({ host: '127.0.0.1', port, path }, (res) => {
              res.once('data', () => started());
              res.on('end', () => resolve(Date.now()));
              res.on('aborted', () => reject(new Error('aborted instead of ended')));
            }),
          ),
        );
      });
    const ended = [open('/events'), open('/piped')];
    // both streams have sent their first event
    await Promise.all(streaming);
    const t0 = Date.now();
    const result = await lifecycle.drain(app.server, () => app.close(), 10_000);
    expect(result.streamsClosed).toBe(2);
    for (const e of ended) expect((await e) - t0).toBeLessThan(1_000);
    expect(result.durationMs).toBeLessThan(1_000);
    expect(piped.sourceClosed).toBe(true); // the upstream side of a piped stream is released
  });

  it('a request still running at the deadline is cut and the drain ends within the bound', async () => {
    const { lifecycle, app, port } = await drainFixture();
    const closed = new Promise<void>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/hang' }).on('error', () => resolve());
    });
    await until(() => lifecycle.inFlight === 1);
    const result = await lifecycle.drain(app.server, () => app.close(), 300);
    await closed;
    expect(result.forced).toBe(1);
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(2_000);
  });

  it('shutdown hooks run first and a failing hook does not stop the drain', async () => {
    const { lifecycle, app } = await drainFixture();
    const order: string[] = [];
    lifecycle.onShutdown(() => {
      order.push('hook1');
      throw new Error('boom');
    });
    lifecycle.onShutdown(async () => {
      order.push('hook2');
    });
    const errors: unknown[] = [];
    await lifecycle.drain(app.server, async () => {
      order.push('close');
      await app.close();
    }, 1_000, (e) => errors.push(e));
    expect(order).toEqual(['hook1', 'hook2', 'close']);
    expect(errors).toHaveLength(1);
  });
});

describe('lifecycle: health endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('/healthz is live and /readyz names the store check', async () => {
    const live = await t.inject({ method: 'GET', url: '/healthz' });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ status: 'ok' });
    const ready = await t.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', checks: { store: 'ok' } });
  });

  it('/readyz answers 503 shutting_down once the drain has started', async () => {
    let during: { status: number; body: unknown } | undefined;
    t.app.services.lifecycle.onShutdown(async () => {
      const r = await t.inject({ method: 'GET', url: '/readyz' });
      during = { status: r.statusCode, body: r.json() };
    });
    await t.app.services.lifecycle.drain(t.app.http.server, () => t.app.http.close(), 1_000);
    expect(during).toEqual({ status: 503, body: { status: 'shutting_down', checks: {} } });
  });
});

describe('lifecycle: readiness with Redis', () => {
  it('/readyz checks Redis when configured and answers 503 naming it when Redis is unreachable', async () => {
    const { REDIS_URL } = await import('./helpers/db.js');
    const ok = await startTestApp({ config: { redis: { url: REDIS_URL, key_prefix: `pcl-ready-${process.pid}:` } } });
    try {
      const r = await ok.inject({ method: 'GET', url: '/readyz' });
      expect(r.statusCode).toBe(200);
      expect(r.json().checks).toEqual({ store: 'ok', redis: 'ok' });
      // cut the command connection and keep it from coming back: readiness fails, naming redis only
      const redis = ok.app.services.redis!;
      redis.client.disconnect(false);
      const down = await ok.inject({ method: 'GET', url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toEqual({ status: 'unavailable', checks: { store: 'ok', redis: 'unavailable' } });
    } finally {
      await ok.close();
    }
  });
});
