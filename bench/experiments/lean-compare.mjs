// EXPERIMENT (docs/performance.md, "Thirteenth round"): D, N, F and the lean-hop
// variants of bench/experiments/lean-proxy.mjs in interleaved rounds, with each
// hop's CPU per request and the added p50 at one connection. Needs dist/ (npm run build).
// Knobs (env): R (rounds, 4), UPS (sdk,echo), ARMS (D,N,F,L,Ls,Lu), BENCH_SECONDS.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { HERE, GATEWAY_NODE_ARGS, spawnReady, tempDir, openSession, measureArm, latencyOneConnection, checkEcho, median, runMain, log } from '../lib.mjs';
const ROUNDS = Number(process.env.R ?? 4);
const ups = (process.env.UPS ?? 'sdk,echo').split(',');
runMain(async () => {
  const tok = `bench_${randomBytes(24).toString('base64url')}`;
  const dir = tempDir('lean-');
  const res = {};
  for (const up of ups) {
    const u = await spawnReady([join(HERE, up === 'sdk' ? 'upstream-sdk.mjs' : 'upstream-echo.mjs')], up);
    const url = `http://127.0.0.1:${u.port}/mcp`;
    const n = await spawnReady([join(HERE, 'null-proxy.mjs'), `http://127.0.0.1:${u.port}`], 'n');
    const f = await spawnReady([...GATEWAY_NODE_ARGS, join(HERE, 'floor-proxy.mjs'), url, tok, join(dir, up + 'f.sqlite')], 'f');
    const lean = (mode) => spawnReady([...GATEWAY_NODE_ARGS, join(HERE, 'experiments/lean-proxy.mjs'), url, tok, join(dir, up + mode + '.sqlite')], mode, { LEAN_MODE: mode });
    const l = await lean('raw'), ls = await lean('httpserver'), lu = await lean('undici');
    const auth = { authorization: `Bearer ${tok}` };
    const arms = {
      D: { url, headers: { 'mcp-session-id': await openSession(url) }, upstreamPid: u.pid },
      N: { url: `http://127.0.0.1:${n.port}/mcp`, pid: n.pid, upstreamPid: u.pid },
      F: { url: `http://127.0.0.1:${f.port}/mcp`, pid: f.pid, upstreamPid: u.pid },
      L: { url: `http://127.0.0.1:${l.port}/mcp`, pid: l.pid, upstreamPid: u.pid },
      Ls: { url: `http://127.0.0.1:${ls.port}/mcp`, pid: ls.pid, upstreamPid: u.pid },
      Lu: { url: `http://127.0.0.1:${lu.port}/mcp`, pid: lu.pid, upstreamPid: u.pid },
    };
    arms.Ls.headers = { ...auth, 'mcp-session-id': await openSession(arms.Ls.url, auth) };
    arms.Lu.headers = { ...auth, 'mcp-session-id': await openSession(arms.Lu.url, auth) };
    arms.N.headers = { 'mcp-session-id': await openSession(arms.N.url) };
    arms.F.headers = { ...auth, 'mcp-session-id': await openSession(arms.F.url, auth) };
    arms.L.headers = { ...auth, 'mcp-session-id': await openSession(arms.L.url, auth) };
    for (const a of Object.values(arms)) if (!a.headers['mcp-session-id']) delete a.headers['mcp-session-id'];
    for (const [k, a] of Object.entries(arms)) await checkEcho(a, k);
    const order = (process.env.ARMS ?? 'D,N,F,L,Ls,Lu').split(',');
    const rps = {}, hop = {}, upc = {}; for (const k of order) { rps[k] = []; hop[k] = []; upc[k] = []; }
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of r % 2 ? [...order].reverse() : order) {
        const { res: x, cpu } = await measureArm(arms[k]);
        rps[k].push(x.requests.average); hop[k].push(cpu.hop ?? 0); upc[k].push(cpu.upstream);
        log(`${up} r${r} ${k}: ${Math.round(x.requests.average)} req/s hop ${Math.round(cpu.hop ?? 0)} up ${Math.round(cpu.upstream)} non2xx ${x.non2xx}`);
      }
    }
    const lat = {};
    for (let r = 0; r < 2; r++) for (const k of order) { const l1 = await latencyOneConnection(arms[k].url, arms[k].headers); (lat[k] ??= []).push(l1.p50); }
    res[up] = Object.fromEntries(order.map((k) => [k, { rps: median(rps[k]), ratioD: median(rps[k].map((v, i) => v / rps.D[i])), hop: median(hop[k]), up: median(upc[k]), p50: median(lat[k]), addedP50: median(lat[k]) - median(lat.D) }]));
    console.log(up, JSON.stringify(res[up], null, 1));
    for (const c of [u, n, f, l, ls, lu]) c.child.kill();
  }
});
