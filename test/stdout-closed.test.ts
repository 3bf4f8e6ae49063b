/**
 * `portcullis serve` whose stdout reader goes away (a log pipe closed, e.g.
 * `portcullis serve | head`) keeps serving and still stops cleanly. Before:
 * with `audit.stdout` the next audit line failed with EPIPE and ended the
 * process; without it, SIGTERM hung for ever (pino's exit flush retried the
 * dead descriptor in a loop). Audit events still reach the store; one line on
 * stderr says stdout output stopped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { LOGIN_ACTOR_KEY_SETTING, unknownLoginActor } from '../src/auth/login-actor.js';
import { freePort, startServe, type ServeProcess } from './helpers/binary.js';

const WARNING = /portcullis: stdout failed \(EPIPE\)/g;

describe('a closed stdout', () => {
  const dirs: string[] = [];
  const running: ServeProcess[] = [];

  afterAll(async () => {
    for (const gw of running) if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function serve(auditStdout: boolean): Promise<{ gw: ServeProcess; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-stdout-'));
    dirs.push(dir);
    const port = await freePort();
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      ['server:', '  host: 127.0.0.1', `  port: ${port}`, 'storage:', `  url: sqlite:${join(dir, 'db.sqlite')}`, 'audit:', `  stdout: ${auditStdout}`, '  flush_interval: 50ms', 'logging:', '  level: info'].join('\n'),
    );
    const gw = await startServe({ args: ['--config', file], port });
    running.push(gw);
    return { gw, dir };
  }

  const login = (gw: ServeProcess, email: string) =>
    fetch(`${gw.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'wrong-password-1234' }) });

  /** SIGTERM; the exit code, or a failure if the process has not exited within 10 s. */
  async function stopWithin10s(gw: ServeProcess): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit 10 s after SIGTERM; output:\n${gw.output().slice(-2000)}`)), 10_000);
    });
    try {
      return await Promise.race([gw.stop(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  it('with audit.stdout: the gateway keeps serving, audit events still reach the store, SIGTERM stops it', async () => {
    const { gw, dir } = await serve(true);

    // While stdout is read, audit lines arrive there.
    expect((await login(gw, 'before@example.com')).status).toBe(401);
    for (let i = 0; i < 100 && !gw.output().includes('"action":"auth.login_failed"'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(gw.output()).toContain('"action":"auth.login_failed"');

    // The reader goes away: the gateway's next write to stdout fails with EPIPE.
    gw.child.stdout!.destroy();
    for (let i = 0; i < 3; i++) {
      expect((await login(gw, `after-${i}@example.com`)).status).toBe(401);
      await new Promise((r) => setTimeout(r, 150)); // several audit flushes, each writing to stdout
    }

    expect(gw.child.exitCode).toBeNull();
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect(gw.output().match(WARNING)).toHaveLength(1);

    const db = new Database(join(dir, 'db.sqlite'), { readonly: true });
    try {
      const rows = db.prepare("SELECT actor FROM audit_events WHERE action = 'auth.login_failed' ORDER BY ts, id").all() as { actor: string }[];
      // unknown login names are audited by their keyed hash, never as typed
      const key = Buffer.from((db.prepare('SELECT value FROM settings WHERE key = ?').get(LOGIN_ACTOR_KEY_SETTING) as { value: string }).value, 'base64url');
      const names = ['before@example.com', 'after-0@example.com', 'after-1@example.com', 'after-2@example.com'];
      expect(rows.map((r) => r.actor)).toEqual(names.map((n) => unknownLoginActor(key, n)));
    } finally {
      db.close();
    }

    expect(await stopWithin10s(gw)).toBe(0);
  });

  it('stdout and stderr closed together (`serve 2>&1 | head`): the gateway keeps serving and stops on SIGTERM', async () => {
    const { gw, dir } = await serve(true);
    expect((await login(gw, 'before@example.com')).status).toBe(401);
    gw.child.stdout!.destroy();
    gw.child.stderr!.destroy();
    for (let i = 0; i < 3; i++) {
      expect((await login(gw, `after-${i}@example.com`)).status).toBe(401);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(gw.child.exitCode).toBeNull();
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const db = new Database(join(dir, 'db.sqlite'), { readonly: true });
    try {
      expect((db.prepare("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed'").get() as { n: number }).n).toBe(4);
    } finally {
      db.close();
    }
    expect(await stopWithin10s(gw)).toBe(0);
  });

  it('logs only: SIGTERM still stops the gateway (no endless flush to the dead pipe)', async () => {
    const { gw } = await serve(false);
    expect((await login(gw, 'someone@example.com')).status).toBe(401);
    gw.child.stdout!.destroy();
    expect((await login(gw, 'someone-else@example.com')).status).toBe(401);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

    expect(await stopWithin10s(gw)).toBe(0);
    // the shutdown's own log lines met the closed pipe
    expect(gw.output().match(WARNING)).toHaveLength(1);
  });
});
