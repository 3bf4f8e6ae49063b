import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent } from '../src/audit/types.js';
import { bearer, register, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS } from './helpers/db.js';

type Ev = AuditEvent & { id: string; ts: string };

const base = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (offsetMs: number) => new Date(base + offsetMs).toISOString();
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** 250 MCP events on server s1 (one per second, five sharing one timestamp), plus a few others. */
function fixture(): Ev[] {
  const out: Ev[] = [];
  for (let i = 0; i < 250; i++) {
    out.push({
      id: id(i),
      ts: i >= 100 && i < 105 ? iso(100_000) : iso(i * 1000),
      action: 'mcp.request',
      actor: i % 2 ? 'alice' : 'bob',
      actorType: 'user',
      server: 's1',
      method: 'tools/call',
      tool: 'echo',
      decision: i % 10 === 0 ? 'deny' : 'allow',
      status: 200,
      latencyMs: 1.5,
      ip: '192.0.2.1',
    });
  }
  out.push({ id: id(1000), ts: iso(5_000), action: 'token.create', actor: 'alice', actorType: 'user', detail: { token_id: 't1' } });
  out.push({ id: id(1001), ts: iso(6_000), action: 'token.revoke', actor: 'alice', actorType: 'user', detail: { token_id: 't1' } });
  out.push({ id: id(1002), ts: iso(7_000), action: 'user.update', actor: 'bob', actorType: 'user', server: null });
  out.push({ id: id(1003), ts: iso(8_000), action: 'mcp.request', actor: 'carol', actorType: 'user', server: 's2', method: 'tools/list', decision: 'allow' });
  return out;
}

describe.each(BACKENDS)('GET /api/v1/audit on %s', (backend) => {
  let t: TestApp;
  let admin: string;
  let adminId: string;
  let viewer: string;
  let user: string;

  beforeAll(async () => {
    t = await startTestApp({ backend });
    const a = await register(t, 'admin@example.com');
    const v = await register(t, 'viewer@example.com');
    const u = await register(t, 'user@example.com');
    admin = a.token;
    adminId = a.user.id;
    user = u.token;
    const r = await t.inject({ method: 'PUT', url: `/api/v1/users/${v.user.id}`, headers: bearer(admin), payload: { role: 'viewer' } });
    expect(r.statusCode, r.body).toBe(200);
    viewer = v.token;
    await t.store.audit.insertMany(fixture());
  });
  afterAll(async () => t.close());

  const get = (qs: string, token = admin) => t.inject({ method: 'GET', url: `/api/v1/audit${qs}`, headers: bearer(token) });

  it('admin and viewer may read; a user may not; anonymous gets 401', async () => {
    expect((await get('?limit=1')).statusCode).toBe(200);
    expect((await get('?limit=1', viewer)).statusCode).toBe(200);
    const denied = await get('?limit=1', user);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('forbidden');
    const anon = await t.inject({ method: 'GET', url: '/api/v1/audit' });
    expect(anon.statusCode).toBe(401);
  });

  it('returns newest first with the public field names, 100 by default', async () => {
    const r = await get('?server=s1');
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.events).toHaveLength(100);
    expect(body.events[0]).toEqual({
      id: id(249), ts: iso(249_000), action: 'mcp.request', actor: 'alice', actor_type: 'user', token_id: null, server: 's1',
      method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, latency_ms: 1.5, ip: '192.0.2.1', detail: null,
    });
    const ts = body.events.map((e: { ts: string }) => e.ts);
    expect([...ts].sort().reverse()).toEqual(ts);
    expect(typeof body.next_cursor).toBe('string');
  });

  it('cursor pagination visits every event exactly once, in order, across equal timestamps', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(`?server=s1&limit=30${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.statusCode).toBe(200);
      const body = r.json() as { events: { id: string }[]; next_cursor: string | null };
      seen.push(...body.events.map((e) => e.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(9); // 8 full pages of 30 + 10
    const expected = fixture()
      .filter((e) => e.server === 's1')
      .sort((a, b) => (a.ts === b.ts ? (a.id < b.id ? 1 : -1) : a.ts < b.ts ? 1 : -1))
      .map((e) => e.id);
    expect(seen).toEqual(expected);
  });

  it('the last page has next_cursor null; limit=1000 is allowed', async () => {
    const r = await get('?server=s1&limit=1000');
    expect(r.json().events).toHaveLength(250);
    expect(r.json().next_cursor).toBeNull();
  });

  it('filters by actor, server, action (exact, list, family), decision, since and until', async () => {
    const ids = async (qs: string) => ((await get(qs)).json().events as { id: string; action: string }[]).map((e) => e.id);
    expect((await ids('?actor=carol')).length).toBe(1);
    expect(await ids('?server=s2')).toEqual([id(1003)]);
    expect(await ids('?action=token.create')).toEqual([id(1000)]);
    expect(await ids('?action=token.*')).toEqual([id(1001), id(1000)]);
    expect(await ids('?action=token.revoke,user.update&since=2030-01-01')).toEqual([id(1002), id(1001)]);
    const denies = (await get('?decision=deny&limit=1000')).json().events as { decision: string; id: string }[];
    expect(denies).toHaveLength(25);
    expect(denies.every((e) => e.decision === 'deny')).toBe(true);
    // since inclusive, until exclusive
    expect(await ids(`?server=s1&since=${iso(245_000)}`)).toEqual([id(249), id(248), id(247), id(246), id(245)]);
    expect(await ids(`?server=s1&until=${iso(2_000)}`)).toEqual([id(1), id(0)]);
    expect(await ids(`?actor=alice&server=s1&since=${iso(10_000)}&until=${encodeURIComponent(iso(14_000))}`)).toEqual([id(13), id(11)]);
    expect(await ids('?since=2031-01-01')).toEqual([]);
  });

  it('a relative since (24h) means that long ago', async () => {
    const body = (await get('?since=24h&action=auth.register')).json();
    expect(body.events).toHaveLength(3);
  });

  it('answers 422 naming the parameter for bad input', async () => {
    for (const [qs, field] of [
      ['?limit=0', 'limit'],
      ['?limit=1001', 'limit'],
      ['?limit=ten', 'limit'],
      ['?since=yesterday', 'since'],
      ['?until=2030-13-45', 'until'],
      ['?cursor=bogus', 'cursor'],
      ['?decision=maybe', 'decision'],
      ['?action=DROP%20TABLE', 'action'],
      ['?actorz=x', 'actorz'],
      ['?actor=a&actor=b', 'actor'],
    ] as const) {
      const r = await get(qs);
      expect(r.statusCode, qs).toBe(422);
      expect(r.json().code).toBe('validation_failed');
      expect(r.json().errors[0].field, qs).toBe(field);
    }
  });

  it('events recorded by the gateway itself are queryable at once (read-your-writes)', async () => {
    await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: 'wrong-password' } });
    const r = await get('?action=auth.login_failed&limit=1');
    expect(r.json().events[0]).toMatchObject({ action: 'auth.login_failed', actor: adminId, actor_type: 'user', status: 401 });
  });
});
