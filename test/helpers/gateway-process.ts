/**
 * Run the real gateway binary (`node bin/portcullis.js serve --config FILE`)
 * as a child process, as an operator would. Needs `npm run build` first
 * (`npm test` does it in `pretest`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/portcullis.js');

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist/cli/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
}

export interface GatewayProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Every stdout/stderr line so far. */
  output: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then wait for exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | string>;
}

/** Write `config` as YAML into a fresh temp folder; returns the file path and a cleanup. */
export function writeConfig(config: Record<string, unknown>): { file: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-proc-'));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, stringify(config));
  return { file, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Spawn `portcullis serve --config file` and resolve once it logs that it
 * listens (the config should use port 0 and logging.level info or lower).
 */
export function startGatewayProcess(file: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<GatewayProcess> {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | string>((res) => child.once('exit', (code, sig) => res(code ?? sig ?? -1)));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start within ${opts.timeoutMs ?? 20_000} ms:\n${output.join('\n')}`));
    }, opts.timeoutMs ?? 20_000);
    const onLine = (line: string) => {
      output.push(line);
      if (!line.includes('portcullis listening')) return;
      try {
        const address = String(JSON.parse(line).address);
        const port = Number(new URL(address).port);
        clearTimeout(timer);
        resolvePromise({
          child,
          url: `http://127.0.0.1:${port}`,
          port,
          output,
          exited,
          async stop(ms = 15_000) {
            if (child.exitCode !== null || child.signalCode !== null) return exited;
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), ms);
            const r = await exited;
            clearTimeout(t);
            return r;
          },
        });
      } catch {
        /* not the JSON line we wait for */
      }
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) !== -1) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening:\n${output.join('\n')}`));
    });
  });
}

/** JSON request helper for tests (test code may use fetch; the gateway itself never does). */
export async function api(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, body, headers: r.headers };
}

/** Poll `fn` until it returns true; resolves with the elapsed ms, throws after `ms`. */
export async function waitFor(fn: () => Promise<boolean> | boolean, ms: number, every = 20): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}
