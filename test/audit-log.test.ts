import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.js';
import { AuditRetention } from '../src/audit/retention.js';
import { type AuditEvent } from '../src/audit/types.js';
import { createLogger } from '../src/lib/logger.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

const apps: TestApp[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (apps.length) await apps.pop()!.close();
});

async function start(opts: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const t = await startTestApp(opts);
  apps.push(t);
  return t;
}

const metric = async (t: TestApp, name: string) => {
  const line = (await t.app.services.metrics.render()).body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
};

/** Make the store's audit writes hang until the returned function is called. */
function stallWrites(t: TestApp): () => void {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const real = t.store.audit.insertMany.bind(t.store.audit);
  vi.spyOn(t.store.audit, 'insertMany').mockImplementation(async (batch) => {
    await gate;
    return real(batch);
  });
  return release;
}

const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();

describe('audit writer', () => {
  it('audit.stdout writes one JSON line per event with the public field names', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    }) as typeof process.stdout.write);
    const t = await start({ config: { audit: { stdout: true } } });
    t.app.services.audit.record({ action: 'token.create', actor: 'u1', actorType: 'user', ip: '192.0.2.1', detail: { token_id: 'abc' } });
    t.app.services.audit.record({ action: 'mcp.request', actor: 'u1', actorType: 'user', server: 'demo', method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latencyMs: 2.5 });
    await t.app.services.audit.flush();
    const audit = lines.map((l) => JSON.parse(l)).filter((o) => o.type === 'audit');
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ type: 'audit', action: 'token.create', actor: 'u1', actor_type: 'user', ip: '192.0.2.1', detail: { token_id: 'abc' } });
    expect(audit[1]).toMatchObject({ action: 'mcp.request', server: 'demo', method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latency_ms: 2.5 });
    expect(typeof audit[0].id).toBe('string');
    expect(Number.isNaN(Date.parse(audit[0].ts))).toBe(false);
    // The same events are stored.
    expect(await t.store.audit.query({ actions: ['token.create', 'mcp.request'], limit: 10 })).toHaveLength(2);
  });

  it('without audit.stdout nothing is written to stdout', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((() => true) as typeof process.stdout.write);
    const t = await start();
    t.app.services.audit.record({ action: 'token.create', actor: 'u1' });
    await t.app.services.audit.flush();
    expect(write.mock.calls.filter((c) => String(c[0]).includes('"type":"audit"'))).toHaveLength(0);
  });

  it('a full queue drops and counts: portcullis_audit_dropped_total and a warning, never silently', async () => {
    const t = await start({ config: { audit: { queue_size: 100, flush_interval: '1h' } } });
    // A store write that hangs: the first 100 events are in flight, the next 100 fill the queue, 30 more are dropped.
    const release = stallWrites(t);
    for (let i = 0; i < 230; i++) t.app.services.audit.record({ action: 'mcp.request', actor: `a${i}` });
    expect(t.app.services.auditLog.dropped).toBe(30);
    expect(await metric(t, 'portcullis_audit_dropped_total')).toBe(30);
    expect(t.logs.some((l) => l.includes('audit queue full'))).toBe(true);
    release();
    await t.app.services.audit.flush();
    expect(await t.store.audit.query({ actions: ['mcp.request'], limit: 1000 })).toHaveLength(200);
  });

  it('under load a write starts every 100 events, in the same event-loop turn and without waiting for the flush interval; a batch that piles up during a write is written as soon as it ends', async () => {
    const t = await start({ config: { audit: { queue_size: 100, flush_interval: '1h' } } });
    // Each write is held until the test lets it go (a store answering asynchronously, like PostgreSQL), then done for real.
    const batches: number[] = [];
    const held: (() => void)[] = [];
    const real = t.store.audit.insertMany.bind(t.store.audit);
    vi.spyOn(t.store.audit, 'insertMany').mockImplementation(async (batch) => {
      batches.push(batch.length);
      await new Promise<void>((r) => held.push(r));
      return real(batch);
    });
    const record = (n: number, from: number) => {
      for (let i = from; i < from + n; i++) t.app.services.audit.record({ action: 'mcp.request', actor: `b${i}` });
    };
    record(99, 0);
    expect(batches).toEqual([]);
    record(1, 99);
    // The 100th event takes the batch out of the queue at once; the write starts in this turn's check
    // phase, after the request that filled the batch (and the rest of the turn) has had its response.
    expect(batches).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([100]);
    record(100, 100); // meanwhile the next 100 fill the queue (the write in flight is not counted)
    expect(batches).toEqual([100]);
    expect(t.app.services.auditLog.dropped).toBe(0);
    held.shift()!();
    await vi.waitFor(() => expect(batches).toEqual([100, 100])); // started when the first ended, not at the next tick
    record(50, 200);
    held.shift()!();
    const done = t.app.services.audit.flush();
    await vi.waitFor(() => expect(batches).toEqual([100, 100, 50]));
    held.shift()!();
    await done;
    expect(t.app.services.auditLog.dropped).toBe(0);
    expect(await t.store.audit.query({ actions: ['mcp.request'], limit: 1000 })).toHaveLength(250);
  });

  it('a failed store write is counted as dropped and logged', async () => {
    const t = await start({ config: { audit: { flush_interval: '1h' } } });
    vi.spyOn(t.store.audit, 'insertMany').mockRejectedValueOnce(new Error('disk full'));
    for (let i = 0; i < 7; i++) t.app.services.audit.record({ action: 'mcp.request' });
    await t.app.services.audit.flush();
    expect(await metric(t, 'portcullis_audit_dropped_total')).toBe(7);
    expect(t.logs.some((l) => l.includes('failed to write audit events'))).toBe(true);
  });

  it('record() never waits for the store: requests are served while a write is stuck', async () => {
    const t = await start({ config: { audit: { flush_interval: '1h' } } });
    const release = stallWrites(t);
    t.app.services.audit.record({ action: 'mcp.request', actor: 'first' });
    const flushing = t.app.services.audit.flush();
    for (let i = 0; i < 50; i++) expect(t.app.services.audit.record({ action: 'mcp.request', actor: `n${i}` })).toBeUndefined();
    expect((await t.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    release();
    await flushing;
    await t.app.services.audit.flush();
    expect(await t.store.audit.query({ actions: ['mcp.request'], limit: 100 })).toHaveLength(51);
  });
});

describe.each(BACKENDS)('audit retention on %s', (backend) => {
  const old = (i: number): AuditEvent & { id: string; ts: string } => ({ id: `old-${backend}-${i}`, ts: daysAgo(100 + i), action: 'mcp.request' });
  const recent = (i: number): AuditEvent & { id: string; ts: string } => ({ id: `new-${backend}-${i}`, ts: daysAgo(1 + i), action: 'mcp.request' });

  it('pruneNow deletes only events older than audit.retention', async () => {
    const t = await start({ backend, config: { audit: { retention: '30d' } } });
    await t.app.services.auditRetention.initial; // the start-up prune ran on the empty table
    await t.store.audit.insertMany([old(0), old(1), old(2), recent(0), recent(1)]);
    expect(await t.app.services.auditRetention.pruneNow()).toBe(3);
    const left = await t.store.audit.query({ actions: ['mcp.request'], limit: 10 });
    expect(left.map((e) => e.id).sort()).toEqual([`new-${backend}-0`, `new-${backend}-1`]);
  });

  it('prunes at start and then periodically, on unref timers', async () => {
    const t = await start({ backend });
    await t.app.services.auditRetention.initial;
    const logger = createLogger('silent');
    await t.store.audit.insertMany([old(10), recent(10)]);
    const r = new AuditRetention(t.store, 30 * 86_400_000, logger, 50);
    try {
      r.start();
      expect(await r.initial).toBe(1);
      expect((r as unknown as { job: { timer: NodeJS.Timeout } }).job.timer.hasRef()).toBe(false);
      await t.store.audit.insertMany([old(11)]);
      await vi.waitFor(async () => expect(await t.store.audit.query({ actions: ['mcp.request'], limit: 10 })).toHaveLength(1), { timeout: 3000, interval: 25 });
    } finally {
      await r.close();
    }
  });
});

describe('AuditLog unit', () => {
  it('disabled audit records nothing', async () => {
    const store = { audit: { insertMany: vi.fn(async () => {}) } } as unknown as ConstructorParameters<typeof AuditLog>[0];
    const log = new AuditLog(store, createLogger('silent'), { enabled: false, stdout: false, queueSize: 100, flushIntervalMs: 1000 });
    log.record({ action: 'mcp.request' });
    await log.flush();
    expect((store.audit.insertMany as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(0);
  });
});
