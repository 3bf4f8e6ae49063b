// One connection, focused: p50/p99 and hop CPU per request of D (direct), T (byte relay), N (null proxy)
// and one or more gateway builds, against the echo upstream, in interleaved rounds (docs/performance.md,
// "Why three targets are met only in some runs"). Not part of npm run bench: it answers "does this change move the added latency?"
// in a few minutes, with more rounds than the full harness gives the latency phase.
//
//   npm run build && node bench/tools/one-connection.mjs
//
// Knobs (env):
//   R                  rounds (default 6; the first is a warm-up in effect: compare the medians)
//   N                  sequential requests per arm and round (default 3000)
//   GWS                gateway names (default G); each one's build comes from ROOT_<name> (default: this checkout,
//                      e.g. a `git worktree` of another revision, built), its extra Node flags from EXTRA_<name>
//                      (space-separated), and AUDIT_<name>=0 turns its audit off (as a reference only)
//   ARMS               which arms, in order (default D,T,N and the gateways)
//   PRELOAD, PRELOAD_ARMS  seconds of 16-connection load on these arms before the rounds (a gateway with a
//                      large audit table and a long-lived heap, as after the full harness's throughput phase)
import { join } from 'node:path';
import { cannon, checkEcho, cpuTicks, gatewayArm, HERE, latencyOneConnection, log, median, oneServerConfig, ROOT, runMain, spawnReady, startGateway, TICK_US } from '../lib.mjs';

const R = Number(process.env.R ?? 6);
const N = Number(process.env.N ?? 3000);
const env = (k) => process.env[k];

runMain(async () => {
  const echo = await spawnReady([join(HERE, 'upstream-echo.mjs')], 'echo');
  const relay = await spawnReady([join(HERE, 'tcp-relay.mjs'), `http://127.0.0.1:${echo.port}`], 'relay');
  const nul = await spawnReady([join(HERE, 'null-proxy.mjs'), `http://127.0.0.1:${echo.port}`], 'null');
  const direct = `http://127.0.0.1:${echo.port}/mcp`;
  const arms = {
    D: { url: direct, headers: {} },
    T: { url: `http://127.0.0.1:${relay.port}/mcp`, headers: {}, pid: relay.pid },
    N: { url: `http://127.0.0.1:${nul.port}/mcp`, headers: {}, pid: nul.pid },
  };
  for (const name of (env('GWS') ?? 'G').split(',')) {
    const gw = await startGateway(name, oneServerConfig('echo', direct, { audit: env(`AUDIT_${name}`) !== '0' }), {
      root: env(`ROOT_${name}`) ?? ROOT,
      nodeArgs: env(`EXTRA_${name}`) ? env(`EXTRA_${name}`).split(' ') : [],
    });
    arms[name] = await gatewayArm(gw, 'echo');
  }
  for (const [k, a] of Object.entries(arms)) await checkEcho(a, k);
  for (const k of (env('PRELOAD_ARMS') ?? '').split(',').filter(Boolean)) {
    const x = await cannon(arms[k].url, arms[k].headers, { duration: Number(env('PRELOAD') ?? 60) });
    log(`preload ${k}: ${Math.round(x.requests.average)} req/s, ${x.requests.total} requests`);
  }

  const order = (env('ARMS') ?? Object.keys(arms).join(',')).split(',');
  const p50 = Object.fromEntries(order.map((k) => [k, []]));
  const cpu = Object.fromEntries(order.map((k) => [k, []]));
  for (let r = 0; r < R; r++) {
    for (const k of r % 2 ? [...order].reverse() : order) {
      const a = arms[k];
      const t0 = a.pid ? cpuTicks(a.pid) : 0;
      const x = await latencyOneConnection(a.url, a.headers, N);
      // latencyOneConnection sends 200 warm-up requests first
      const us = a.pid ? ((cpuTicks(a.pid) - t0) * TICK_US) / (N + 200) : null;
      p50[k].push(x.p50);
      cpu[k].push(us);
      log(`round ${r + 1} ${k}: p50 ${x.p50.toFixed(3)} ms, p99 ${x.p99.toFixed(3)} ms${us === null ? '' : `, hop CPU ${us.toFixed(0)} µs/req`}`);
    }
  }
  const base = p50.D?.length ? median(p50.D) : null;
  console.log('| arm | p50 (ms), median | added over D (ms) | hop CPU µs/req, median | p50 per round |');
  console.log('|---|---|---|---|---|');
  for (const k of order) {
    const m = median(p50[k]);
    const c = cpu[k][0] === null ? '–' : median(cpu[k]).toFixed(0);
    console.log(`| ${k} | ${m.toFixed(3)} | ${base === null ? '–' : (m - base).toFixed(3)} | ${c} | ${p50[k].map((v) => v.toFixed(3)).join(' ')} |`);
  }
});
