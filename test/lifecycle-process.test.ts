/**
 * SIGTERM on the real binary: in-flight requests finish, new connections are
 * refused during the drain, and the process exits 0 within the bound.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STDIO_FIXTURE } from './fixtures/mcp-upstreams.js';
import { rawInitialize, rpc } from './helpers/mcp.js';
import { LOGIN_ACTOR_KEY_SETTING, unknownLoginActor } from '../src/auth/login-actor.js';
import { openDb } from '../src/store/index.js';
import { createSqliteDatabase, type TestDb } from './helpers/db.js';
import { api, startGatewayProcess, waitFor, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { connectionRefused, slowRequest } from './helpers/raw-http.js';

describe('lifecycle: SIGTERM on the real gateway process', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  let db: TestDb;
  async function start(shutdownTimeout: string, extra: Record<string, unknown> = {}): Promise<GatewayProcess> {
    db = createSqliteDatabase();
    const cfg = writeConfig({
      server: { host: '127.0.0.1', port: 0, shutdown_timeout: shutdownTimeout },
      storage: { url: db.url },
      logging: { level: 'info' },
      // only the shutdown flush can write audit events in these tests
      audit: { flush_interval: '1h' },
      ...extra,
    });
    const gw = await startGatewayProcess(cfg.file);
    cleanups.push(() => db.drop(), () => cfg.cleanup(), async () => void (await gw.stop(2_000)));
    expect((await api(gw.url, 'GET', '/readyz')).status).toBe(200);
    return gw;
  }

  it('a request in flight at SIGTERM completes, new connections are refused meanwhile, and the process exits 0', async () => {
    const gw = await start('10s');
    const body = JSON.stringify({ email: 'nobody@example.com', password: 'not-the-password' });
    const req = await slowRequest(gw.port, 'POST', '/api/v1/auth/login', body);
    await new Promise((r) => setTimeout(r, 100)); // let the server parse the request head
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    // the listener closes promptly while the request is still open
    await waitFor(() => connectionRefused(gw.port), 2_000);
    expect(gw.child.exitCode).toBeNull();
    await new Promise((r) => setTimeout(r, 200));
    expect(gw.child.exitCode).toBeNull(); // still draining: the request has not finished
    req.finish();
    const res = await req.response;
    expect(res.status).toBe(401); // answered normally, not cut
    expect(res.raw).toContain('invalid_credentials');
    expect(await gw.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(gw.output.join('\n')).toContain('http drained');
    // the audit queue was flushed on the way out
    const store = await openDb(db.url);
    const rows = await store.kysely.selectFrom('audit_events').select(['action', 'actor']).execute();
    const key = await store.kysely.selectFrom('settings').select('value').where('key', '=', LOGIN_ACTOR_KEY_SETTING).executeTakeFirstOrThrow();
    await store.close();
    // the unknown login name is audited by its keyed hash, never as typed
    expect(rows).toContainEqual({ action: 'auth.login_failed', actor: unknownLoginActor(Buffer.from(key.value, 'base64url'), 'nobody@example.com') });
  });

  it('a request that never finishes is cut at server.shutdown_timeout and the process still exits 0 in time', async () => {
    const gw = await start('1s');
    const req = await slowRequest(gw.port, 'POST', '/api/v1/auth/login', JSON.stringify({ email: 'a@example.com', password: 'x-long-enough' }));
    await new Promise((r) => setTimeout(r, 100)); // let the server parse the request head
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(4_000);
    expect((await req.response).status).toBe(0); // connection closed without an answer
    const drained = gw.output.find((l) => l.includes('http drained'));
    expect(JSON.parse(drained!).forced).toBe(1);
  });

  it('stdio MCP server processes are stopped before the process exits 0', async () => {
    const pidDir = mkdtempSync(join(tmpdir(), 'pcl-pids-'));
    cleanups.push(() => rmSync(pidDir, { recursive: true, force: true }));
    const gw = await start('5s', { servers: [{ name: 'local', command: process.execPath, args: [STDIO_FIXTURE], env: { FIXTURE_PID_DIR: pidDir } }] });
    const admin = (await api(gw.url, 'POST', '/api/v1/auth/register', { body: { email: 'ops@example.com', password: 'correct horse battery' } })).body.token;
    const token = (await api(gw.url, 'POST', '/api/v1/auth/tokens', { token: admin, body: { name: 'mcp' } })).body.token;
    const headers = { authorization: `Bearer ${token}` };
    const sid = await rawInitialize(`${gw.url}/mcp/local`, headers);
    const call = await rpc(`${gw.url}/mcp/local`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } }, { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect(call.status).toBe(200);
    const pids = readdirSync(pidDir).map(Number);
    expect(pids).toHaveLength(1);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(pids[0])).toBe(true);
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    // stopped (and reaped) by the gateway before it exited, not orphaned
    expect(alive(pids[0])).toBe(false);
    expect(readdirSync(pidDir)).toEqual([]);
  });
});
