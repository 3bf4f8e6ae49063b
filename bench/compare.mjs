// Two gateway builds side by side (`npm run bench:compare -- <git-rev> [sdk|echo|stdio]`).
// Not part of `npm test`.
//
// On a small shared machine run-to-run noise (±10 % here) hides the effect of a
// hot-path change; comparing two builds in the same interleaved rounds cancels
// it. This builds <git-rev> (default HEAD) in a temporary git worktree, starts
// one upstream (SDK or raw echo), the null proxy, the baseline gateway (A) and
// the working tree's gateway (B, built first), then drives N, A, B in
// interleaved rounds (order reversed every other round) and prints req/s and
// gateway CPU µs per request, medians and per-round values. `stdio`: the
// gateways spawn bench/upstream-stdio.mjs per session (the stdio channel path);
// there is no null proxy for stdio, so only A and B run, each request with its
// own JSON-RPC id (one session's requests in flight must differ in id).
//
// Both gateways run with the working tree's Node flags (GATEWAY_NODE_ARGS, from
// the Dockerfile's ENTRYPOINT), so the comparison is of code only.
//
// Knobs (env): BENCH_ROUNDS (default 5), BENCH_SECONDS (5), BENCH_CONNECTIONS (16),
// BENCH_GATEWAY_NODE_ARGS.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_GROUPS, HERE, ROOT, cannon, checkEcho, fmt, gatewayArm, log, measureArm, median, oneServerConfig, openSession, runMain, spawnReady, startGateway } from './lib.mjs';

const rev = process.argv[2] ?? 'HEAD';
const upstream = process.argv[3] ?? 'sdk';
if (!['sdk', 'echo', 'stdio'].includes(upstream)) throw new Error('upstream must be sdk, echo or stdio');
const stdio = upstream === 'stdio';
const load = { uniqueIds: stdio };
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);

async function main() {
  log('building the working tree…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const base = mkdtempSync(join(tmpdir(), 'pcl-compare-'));
  rmSync(base, { recursive: true });
  log(`building ${rev} in ${base}…`);
  execFileSync('git', ['worktree', 'add', '--detach', base, rev], { cwd: ROOT, stdio: 'ignore' });
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'));
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: base, stdio: 'inherit' });
    if (!existsSync(join(base, 'dist'))) throw new Error(`${rev} did not build`);
    await run(base);
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', base], { cwd: ROOT, stdio: 'ignore' });
  }
}

async function run(baseRoot) {
  const arms = {};
  let config;
  if (stdio) config = { servers: [{ name: 'u', command: process.execPath, args: [join(HERE, 'upstream-stdio.mjs')] }], groups: BENCH_GROUPS, audit: { enabled: true } };
  else {
    const up = await spawnReady([join(HERE, `upstream-${upstream}.mjs`)], 'upstream');
    const np = await spawnReady([join(HERE, 'null-proxy.mjs'), `http://127.0.0.1:${up.port}`], 'null-proxy');
    config = oneServerConfig('u', `http://127.0.0.1:${up.port}/mcp`);
    arms.N = { url: `http://127.0.0.1:${np.port}/mcp`, headers: {} };
    arms.N.headers['mcp-session-id'] = await openSession(arms.N.url);
  }
  const gateways = { A: await startGateway('A', config, { root: baseRoot }), B: await startGateway('B', config) };
  for (const [name, gw] of Object.entries(gateways)) {
    arms[name] = await gatewayArm(gw, 'u');
    await checkEcho(arms[name], `gateway ${name}`);
  }
  for (const a of Object.values(arms)) if (!a.headers['mcp-session-id']) delete a.headers['mcp-session-id'];
  for (const a of Object.values(arms)) await cannon(a.url, a.headers, { duration: 1, ...load });

  const rps = { N: [], A: [], B: [] };
  const cpu = { A: [], B: [] };
  for (let r = 0; r < rounds; r++) {
    for (const arm of (r % 2 === 0 ? ['N', 'A', 'B'] : ['B', 'A', 'N']).filter((x) => arms[x])) {
      const a = arms[arm];
      const { res, cpu: c } = await measureArm(a, load);
      if (res.errors + res.non2xx > 0) throw new Error(`${arm}: ${res.errors} errors, ${res.non2xx} non-2xx`);
      rps[arm].push(res.requests.average);
      if (c.hop !== null) cpu[arm].push(c.hop);
      log(`round ${r + 1} ${arm}: ${fmt(res.requests.average, 0)} req/s${a.pid ? `, ${fmt(cpu[arm].at(-1), 0)} µs CPU/req` : ''}`);
    }
  }
  const per = (x, y) => (rps[y].length ? rps[x].map((v, i) => v / rps[y][i]) : []);
  const lines = [
    `# ${rev} (A) against the working tree (B), ${upstream} upstream, ${rounds} interleaved rounds`,
    '',
    '| | req/s (median) | gateway CPU µs/req (median) | per round: arm/N |',
    '|---|---|---|---|',
    `| N (null proxy) | ${fmt(median(rps.N), 0)} | | |`,
    `| A (${rev}) | ${fmt(median(rps.A), 0)} | ${fmt(median(cpu.A), 0)} | ${per('A', 'N').map((v) => fmt(v)).join(', ')} |`,
    `| B (working tree) | ${fmt(median(rps.B), 0)} | ${fmt(median(cpu.B), 0)} | ${per('B', 'N').map((v) => fmt(v)).join(', ')} |`,
    '',
    `B/A throughput per round: ${per('B', 'A').map((v) => fmt(v)).join(', ')} (median ${fmt(median(per('B', 'A')))}); CPU per request B/A: ${fmt(median(cpu.B) / median(cpu.A))}.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

await runMain(main);
