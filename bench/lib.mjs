// Shared parts of the benchmark harness: processes, gateways, sessions, load,
// CPU and memory readings. Used by bench/run.mjs (the full benchmark) and
// bench/compare.mjs (two gateway builds side by side).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..');
export const quick = process.env.BENCH_QUICK === '1';
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
export const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 2 : 5));
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
export const SESSIONS = Number(process.env.BENCH_SESSIONS ?? (quick ? 500 : 10_000));
/** Open streams: as many as the gateway's fd limit allows (2 descriptors each), unless set. */
export function fdLimit() {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}
export const SSE_STREAMS = Number(process.env.BENCH_SSE_STREAMS ?? (quick ? 200 : Math.floor((fdLimit() - 1_000) / 2)));
export const PHASES = new Set((process.env.BENCH_PHASES ?? 'throughput,latency,memory,auth').split(','));
export const LEAK_ROUNDS = Number(process.env.BENCH_LEAK_ROUNDS ?? (quick ? 2 : 5));
export const PROTOCOL = '2025-06-18';

/**
 * Node flags for the gateway processes: the ones the Docker image's ENTRYPOINT
 * runs it with (so the benchmark measures the gateway as deployed), unless
 * BENCH_GATEWAY_NODE_ARGS is set (space-separated; empty for plain `node`).
 */
export const GATEWAY_NODE_ARGS = (() => {
  if (process.env.BENCH_GATEWAY_NODE_ARGS !== undefined) return process.env.BENCH_GATEWAY_NODE_ARGS.split(/\s+/).filter(Boolean);
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ENTRYPOINT in exec form');
  const argv = JSON.parse(m[1]);
  const node = argv.indexOf('node');
  const bin = argv.findIndex((a) => a.endsWith('bin/portcullis.js'));
  if (node === -1 || bin < node) throw new Error(`Dockerfile: ENTRYPOINT does not run node bin/portcullis.js: ${m[1]}`);
  return argv.slice(node + 1, bin);
})();
export const children = [];
/** Temporary directories of this run (gateway configs and SQLite stores: ~200 MB each after a full run), removed at the end. */
const tempDirs = [];

/** A temporary directory that runMain removes when the run ends. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function log(...a) {
  process.stderr.write(a.join(' ') + '\n');
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Spawn a node script that prints `READY <port>`; resolve with its port and pid. */
export function spawnReady(args, name, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /READY (\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), pid: child.pid, child });
      }
    });
    child.stderr.on('data', (d) => {
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${d}`);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early with ${code}`));
    });
  });
}

/**
 * Start a gateway process with the given config; wait for /healthz. `inspect`: with the inspector on a free port (memory phase).
 * `nodeArgs`: more Node options for the gateway process (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept).
 */
export async function startGateway(name, config, { inspect = false, root = ROOT, nodeArgs: extra = [] } = {}) {
  const dir = tempDir(`pcl-bench-${name}-`);
  const port = await freePort();
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, JSON.stringify({ ...config, server: { host: '127.0.0.1', port }, storage: { url: `sqlite:${join(dir, 'db.sqlite')}` }, logging: { level: 'warn' } }));
  const nodeArgs = [...GATEWAY_NODE_ARGS, ...(inspect ? ['--inspect=127.0.0.1:0'] : []), ...extra];
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin/portcullis.js'), 'serve', '--config', file], { cwd: dir, stdio: ['ignore', process.env.BENCH_VERBOSE ? 'pipe' : 'ignore', 'pipe'] });
  children.push(child);
  // With BENCH_VERBOSE the gateway's stdout (e.g. --trace-gc in BENCH_GATEWAY_NODE_ARGS) goes to stderr too, off the report.
  child.stdout?.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  let stderr = '';
  let inspector = null;
  child.stderr.on('data', (d) => {
    if (inspector === null && stderr.length < 10_000) {
      stderr += d;
      inspector = /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1] ?? null;
    }
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await request(`${base}/healthz`);
      await r.body.text();
      if (r.statusCode === 200) return { base, pid: child.pid, dir, child, inspector: () => inspector };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway ${name} did not start`);
}

export async function json(method, url, body, headers = {}) {
  const r = await request(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.body.text();
  if (r.statusCode >= 400) throw new Error(`${method} ${url} → ${r.statusCode} ${text}`);
  return { status: r.statusCode, headers: r.headers, body: text ? JSON.parse(text) : null };
}

/** Admin + a plain user in group `bench`; returns the user's API token and login JWT. */
export async function provision(base) {
  const admin = await json('POST', `${base}/api/v1/auth/register`, { email: 'admin@bench.local', password: 'bench-admin-password' });
  const auth = { authorization: `Bearer ${admin.body.token}` };
  await json('POST', `${base}/api/v1/users`, { email: 'user@bench.local', password: 'bench-user-password', role: 'user', groups: ['bench'] }, auth);
  const login = await json('POST', `${base}/api/v1/auth/login`, { email: 'user@bench.local', password: 'bench-user-password' });
  const tok = await json('POST', `${base}/api/v1/auth/tokens`, { name: 'bench', scopes: ['mcp:execute'] }, { authorization: `Bearer ${login.body.token}` });
  return { apiToken: tok.body.token, jwt: login.body.token };
}

/** The bench group's grant: `echo` on every server (the benchmark user is not granted `secret_admin`). */
export const BENCH_GROUPS = [{ name: 'bench', grants: [{ server: '*', tools: ['echo'], access_level: 'execute' }] }];

/** A gateway config with one remote upstream named `name`, the bench group and audit on (unless `audit: false`). */
export function oneServerConfig(name, url, { audit = true } = {}) {
  return { servers: [{ name, url, connections: 128 }], groups: BENCH_GROUPS, audit: { enabled: audit } };
}

/** A started gateway as a load arm on /mcp/<server>: a provisioned user's API token and an MCP session opened with it. */
export async function gatewayArm(gw, server) {
  const { apiToken } = await provision(gw.base);
  const auth = { authorization: `Bearer ${apiToken}` };
  const url = `${gw.base}/mcp/${server}`;
  const sid = await openSession(url, auth);
  return { url, headers: sid ? { ...auth, 'mcp-session-id': sid } : auth, pid: gw.pid };
}

/** Open an MCP session at `url`; returns the session id (or null for stateless). */
export async function openSession(url, headers = {}) {
  const r = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }),
  });
  await r.body.text();
  if (r.statusCode !== 200) throw new Error(`initialize at ${url} → ${r.statusCode}`);
  const sid = r.headers['mcp-session-id'] ?? null;
  const n = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL, ...(sid ? { 'mcp-session-id': sid } : {}), ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await n.body.text();
  return sid;
}

export const CALL = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello portcullis' } } });

let nextId = 1;

/**
 * autocannon against `url` with CALL. `opts.uniqueIds`: a fresh JSON-RPC id per request, for upstreams
 * that hold one session's requests in flight by id (stdio: a repeated id in flight is refused).
 */
export function cannon(url, headers, opts = {}) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL, ...headers },
        body: CALL,
        ...(opts.uniqueIds ? { requests: [{ setupRequest: (req) => ({ ...req, body: CALL.replace('"id":1,', `"id":${nextId++},`) }) }] } : {}),
        connections: opts.connections ?? CONNECTIONS,
        duration: opts.duration ?? SECONDS,
        overallRate: opts.rate,
        pipelining: 1,
      },
      (err, res) => {
        if (err) reject(err);
        else resolve(res);
      },
    );
  });
}

export const CALL_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL };
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Sequential requests on one keep-alive connection: p50/p99 in ms at µs resolution. */
export async function latencyOneConnection(url, headers, n = quick ? 500 : 3_000) {
  const { Client } = await import('undici');
  const u = new URL(url);
  const client = new Client(u.origin, { pipelining: 1 });
  const lat = [];
  const opts = { path: u.pathname, method: 'POST', headers: { ...CALL_HEADERS, ...headers }, body: CALL };
  for (let i = 0; i < 200; i++) await (await client.request(opts)).body.text();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await client.request(opts);
    await r.body.text();
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await client.close();
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** Open-loop load at a fixed rate: latency measured from each request's scheduled start. */
export async function latencyFixedRate(url, headers, rate = 1_000, seconds = quick ? 2 : 4) {
  const { Pool } = await import('undici');
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 32, pipelining: 1 });
  const opts = { path: u.pathname, method: 'POST', headers: { ...CALL_HEADERS, ...headers }, body: CALL };
  const total = rate * seconds;
  const lat = [];
  const start = performance.now();
  const inflight = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // From the scheduled time when sent late (queueing counts), from the send when early.
    const t0 = Math.min(due, performance.now());
    inflight.push(
      pool.request(opts).then(async (r) => {
        await r.body.text();
        lat.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(inflight);
  await pool.close();
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

export function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(parts[11]) + Number(parts[12]); // utime + stime
}
export const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/**
 * Memory of a gateway at a comparable point: a full garbage collection through
 * the inspector protocol (HeapProfiler.collectGarbage), then the V8 heap in use
 * and the lowest of a few RSS samples. Without it, RSS after a load round mostly
 * shows where the collector happened to be (±15 % from round to round here).
 */
export async function settledMemory(gw) {
  const url = gw.inspector();
  if (!url) throw new Error('gateway inspector not available');
  const { WebSocket } = await import('undici');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 0;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data));
    pending.get(m.id)?.(m);
  };
  const call = (method) =>
    new Promise((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const usage = await call('Runtime.getHeapUsage');
  ws.close();
  const samples = [];
  for (let i = 0; i < 4; i++) {
    await new Promise((res) => setTimeout(res, 250));
    samples.push(rssKiB(gw.pid));
  }
  return { rssKiB: Math.min(...samples), heapKiB: Math.round(usage.result.usedSize / 1024) };
}

export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN;
};
export const range = (a) => [Math.min(...a), Math.max(...a)];
export const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/**
 * One throughput arm: autocannon against `arm.url`, and the CPU µs per request
 * over it of every process on the path: `hop` (`arm.pid`, the gateway or null
 * proxy, when given), `upstream` (`arm.upstreamPid`, when given) and `client`
 * (this process: autocannon). On a 2-core machine they share the CPUs, so what
 * one costs is taken from the others: the breakdown says where a ratio comes from.
 */
export async function measureArm(arm, opts = {}) {
  const ticks = (pid) => (pid ? cpuTicks(pid) : 0);
  const h0 = ticks(arm.pid);
  const u0 = ticks(arm.upstreamPid);
  const c0 = process.cpuUsage();
  const res = await cannon(arm.url, arm.headers, opts);
  const n = Math.max(1, res.requests.total);
  const c = process.cpuUsage(c0);
  const perReq = (pid, t0) => (pid ? ((cpuTicks(pid) - t0) * TICK_US) / n : null);
  const cpu = { client: (c.user + c.system) / n, upstream: perReq(arm.upstreamPid, u0), hop: perReq(arm.pid, h0) };
  return { res, cpu };
}

/** tools/call echo through `arm` must answer with the echoed text (the gateway really forwards). */
export async function checkEcho(arm, name) {
  const r = await request(arm.url, { method: 'POST', headers: { ...CALL_HEADERS, ...arm.headers }, body: CALL });
  const text = await r.body.text();
  if (r.statusCode !== 200 || !text.includes('hello portcullis')) throw new Error(`${name}: echo failed: ${r.statusCode} ${text}`);
}

/** Run a harness entry point; child processes are stopped and temporary directories removed whatever happens. */
export async function runMain(main) {
  try {
    await main();
  } finally {
    const exited = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of children) c.kill('SIGTERM');
    // gateways flush their audit on SIGTERM: let them finish before their stores go
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 10_000))]);
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  }
  process.exit(0);
}
