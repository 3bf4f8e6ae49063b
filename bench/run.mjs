// Portcullis benchmark harness (`npm run bench`). Not part of `npm test`.
//
// Starts in one run: an SDK MCP upstream, a raw JSON-RPC echo upstream, a null
// proxy, a byte relay and a floor gateway in front of each, and two gateways (G:
// caches warm, API token; Gu: token caches disabled, ES256 JWT verified from
// scratch on every request). Arms are interleaved (D, T, N, F, G, Gu, then reversed) for several rounds so machine drift
// cancels; ratios are computed per round. Writes a Markdown table to stdout and
// JSON to bench/results/.
//
// Knobs (env): BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNECTIONS (16),
// BENCH_SESSIONS (10000), BENCH_SSE_STREAMS (fd limit / 2), BENCH_LEAK_ROUNDS (5), BENCH_QUICK=1,
// BENCH_PHASES (throughput,latency,memory,auth), BENCH_GATEWAY_NODE_ARGS (the
// gateway's Node flags; default: those of the Docker image's ENTRYPOINT).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import {
  BENCH_GROUPS,
  CALL_HEADERS,
  CONNECTIONS,
  GATEWAY_NODE_ARGS,
  HERE,
  LEAK_ROUNDS,
  PHASES,
  PROTOCOL,
  ROOT,
  ROUNDS,
  SECONDS,
  SESSIONS,
  SSE_STREAMS,
  cannon,
  checkEcho,
  fmt,
  json,
  latencyFixedRate,
  latencyOneConnection,
  log,
  measureArm,
  median,
  openSession,
  provision,
  range,
  rssKiB,
  runMain,
  settledMemory,
  spawnReady,
  startGateway,
  tempDir,
} from './lib.mjs';

/**
 * D direct; T byte relay (raw TCP, no HTTP: the floor of any Node process in the path); N null proxy (HTTP
 * both sides, nothing else: the floor of any Node HTTP proxy); F floor gateway (bench/floor-proxy.mjs: only
 * the duties the budget requires per tools/call, each in its cheapest form: the floor of any Node gateway
 * with them); G gateway; Gu gateway without token caches.
 */
const ARMS = ['D', 'T', 'N', 'F', 'G', 'Gu'];

async function main() {
  log('building…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });

  const sdk = await spawnReady([join(HERE, 'upstream-sdk.mjs')], 'sdk-upstream');
  const echo = await spawnReady([join(HERE, 'upstream-echo.mjs')], 'echo-upstream');
  const nSdk = await spawnReady([join(HERE, 'null-proxy.mjs'), `http://127.0.0.1:${sdk.port}`], 'null-sdk');
  const nEcho = await spawnReady([join(HERE, 'null-proxy.mjs'), `http://127.0.0.1:${echo.port}`], 'null-echo');
  const tSdk = await spawnReady([join(HERE, 'tcp-relay.mjs'), `http://127.0.0.1:${sdk.port}`], 'relay-sdk');
  const tEcho = await spawnReady([join(HERE, 'tcp-relay.mjs'), `http://127.0.0.1:${echo.port}`], 'relay-echo');
  // The floor gateways run with the gateway's Node flags and write their audit rows under this run's temporary directory.
  const floorToken = `bench_${randomBytes(24).toString('base64url')}`;
  const floorDir = tempDir('pcl-bench-floor-');
  const floor = (port, name) => spawnReady([...GATEWAY_NODE_ARGS, join(HERE, 'floor-proxy.mjs'), `http://127.0.0.1:${port}/mcp`, floorToken, join(floorDir, `${name}.sqlite`)], name);
  const fSdk = await floor(sdk.port, 'floor-sdk');
  const fEcho = await floor(echo.port, 'floor-echo');

  const keyDir = tempDir('pcl-bench-key-');
  const keyFile = join(keyDir, 'signing.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile], { stdio: 'ignore' });

  // Auth cost in-process (cached / uncached ES256 JWT), measured first, while
  // no other benchmark process is busy.
  const authResults = PHASES.has('auth') ? JSON.parse(execFileSync(process.execPath, [join(HERE, 'auth-micro.mjs'), keyFile], { cwd: ROOT, encoding: 'utf8' })) : undefined;

  const gwConfig = (cacheSize) => ({
    auth: { signing: { algorithm: 'ES256', private_key_file: keyFile }, token_cache_size: cacheSize },
    servers: [
      { name: 'sdk', url: `http://127.0.0.1:${sdk.port}/mcp`, connections: 128 },
      { name: 'echo', url: `http://127.0.0.1:${echo.port}/mcp`, connections: 128 },
    ],
    groups: BENCH_GROUPS,
    audit: { enabled: true },
  });
  const G = await startGateway('G', gwConfig(50_000), { inspect: PHASES.has('memory') });
  const Gu = await startGateway('Gu', gwConfig(0));
  const gCreds = await provision(G.base);
  const guCreds = await provision(Gu.base);

  // One session per arm and upstream, opened once.
  const arms = {};
  for (const [up, { port, pid: upstreamPid }, { port: nport, pid: nPid }, { port: tport, pid: tPid }, { port: fport, pid: fPid }] of [
    ['sdk', sdk, nSdk, tSdk, fSdk],
    ['echo', echo, nEcho, tEcho, fEcho],
  ]) {
    const d = `http://127.0.0.1:${port}/mcp`;
    const t = `http://127.0.0.1:${tport}/mcp`;
    const n = `http://127.0.0.1:${nport}/mcp`;
    const f = `http://127.0.0.1:${fport}/mcp`;
    const fAuth = { authorization: `Bearer ${floorToken}` };
    const g = `${G.base}/mcp/${up}`;
    const gu = `${Gu.base}/mcp/${up}`;
    const gAuth = { authorization: `Bearer ${gCreds.apiToken}` };
    const guAuth = { authorization: `Bearer ${guCreds.jwt}` };
    arms[up] = {
      D: { url: d, headers: { 'mcp-session-id': await openSession(d) }, upstreamPid },
      T: { url: t, headers: { 'mcp-session-id': await openSession(t) }, pid: tPid, upstreamPid },
      N: { url: n, headers: { 'mcp-session-id': await openSession(n) }, pid: nPid, upstreamPid },
      F: { url: f, headers: { ...fAuth, 'mcp-session-id': await openSession(f, fAuth) }, pid: fPid, upstreamPid },
      G: { url: g, headers: { ...gAuth, 'mcp-session-id': await openSession(g, gAuth) }, pid: G.pid, upstreamPid },
      Gu: { url: gu, headers: { ...guAuth, 'mcp-session-id': await openSession(gu, guAuth) }, pid: Gu.pid, upstreamPid },
    };
    for (const a of Object.values(arms[up])) if (!a.headers['mcp-session-id']) delete a.headers['mcp-session-id'];
  }

  // Sanity: the gateway and the floor really authorize (a denied tool is refused, an allowed one answers).
  const callDenied = async (arm) => {
    const r = await request(arm.url, { method: 'POST', headers: { ...CALL_HEADERS, ...arm.headers }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'secret_admin', arguments: {} } }) });
    return { status: r.statusCode, body: await r.body.text() };
  };
  for (const up of ['sdk', 'echo']) {
    await checkEcho(arms[up].F, `floor ${up}`);
    const floorDenied = await callDenied(arms[up].F);
    if (floorDenied.status !== 403) throw new Error(`floor ${up} did not deny secret_admin: ${floorDenied.status}`);
    await checkEcho(arms[up].G, `gateway ${up}`);
    const denied = await callDenied(arms[up].G);
    if (!denied.body.includes('-32003')) throw new Error(`gateway ${up} did not deny secret_admin: ${denied.body}`);
  }

  const results = {
    meta: { date: new Date().toISOString(), node: process.version, gateway_node_args: GATEWAY_NODE_ARGS, rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, cpus: (await import('node:os')).cpus().length },
    throughput: {},
    latency: {},
    cpu: {},
    memory: {},
    auth: authResults,
  };

  // Warm-up
  for (const up of ['sdk', 'echo']) for (const a of Object.values(arms[up])) await cannon(a.url, a.headers, { duration: 1 });

  // Throughput, interleaved D,T,N,F,G,Gu then reversed.
  if (PHASES.has('throughput')) for (const up of ['sdk', 'echo']) {
    const rps = Object.fromEntries(ARMS.map((a) => [a, []]));
    const cpu = Object.fromEntries(ARMS.map((a) => [a, []]));
    const errors = Object.fromEntries(ARMS.map((a) => [a, 0]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ARMS : [...ARMS].reverse();
      for (const arm of order) {
        const a = arms[up][arm];
        const { res, cpu: c } = await measureArm(a);
        rps[arm].push(res.requests.average);
        errors[arm] += res.errors + res.non2xx;
        cpu[arm].push(c);
        log(`${up} round ${r + 1} ${arm}: ${fmt(res.requests.average, 0)} req/s, p50 ${res.latency.p50} ms, non2xx ${res.non2xx}`);
      }
    }
    const ratio = (x, y) => rps[x].map((v, i) => v / rps[y][i]);
    results.throughput[up] = {
      rps: Object.fromEntries(Object.entries(rps).map(([k, v]) => [k, { median: median(v), range: range(v) }])),
      'G/D': { median: median(ratio('G', 'D')), range: range(ratio('G', 'D')) },
      'G/N': { median: median(ratio('G', 'N')), range: range(ratio('G', 'N')) },
      // what the gateway's generality costs over the floor of its duties
      'G/F': { median: median(ratio('G', 'F')), range: range(ratio('G', 'F')) },
      'Gu/D': { median: median(ratio('Gu', 'D')), range: range(ratio('Gu', 'D')) },
      // the bare hops' own ratios: how much of the budget any Node proxy (N), or any Node process at all (T), leaves on this machine
      'N/D': { median: median(ratio('N', 'D')), range: range(ratio('N', 'D')) },
      'T/D': { median: median(ratio('T', 'D')), range: range(ratio('T', 'D')) },
      'F/D': { median: median(ratio('F', 'D')), range: range(ratio('F', 'D')) },
      errors,
    };
    // Median CPU µs per request of each process on each arm's path (hop: null proxy or gateway).
    const part = (arm, k) => (cpu[arm][0][k] === null ? null : median(cpu[arm].map((c) => c[k])));
    results.cpu[up] = {
      G_us_per_req: part('G', 'hop'),
      Gu_us_per_req: part('Gu', 'hop'),
      per_arm: Object.fromEntries(Object.keys(cpu).map((arm) => [arm, { client: part(arm, 'client'), upstream: part(arm, 'upstream'), hop: part(arm, 'hop') }])),
    };
  }

  // Latency at 1 connection and at a fixed 1,000 req/s, interleaved.
  if (PHASES.has('latency')) for (const up of ['sdk', 'echo']) {
    const lat = {};
    for (const arm of ARMS) lat[arm] = { c1_p50: [], c1_p99: [], r1000_p50: [], r1000_p99: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ARMS : [...ARMS].reverse();
      for (const arm of order) {
        const a = arms[up][arm];
        const one = await latencyOneConnection(a.url, a.headers);
        lat[arm].c1_p50.push(one.p50);
        lat[arm].c1_p99.push(one.p99);
        const fixed = await latencyFixedRate(a.url, a.headers);
        lat[arm].r1000_p50.push(fixed.p50);
        lat[arm].r1000_p99.push(fixed.p99);
      }
    }
    results.latency[up] = Object.fromEntries(Object.entries(lat).map(([arm, v]) => [arm, Object.fromEntries(Object.entries(v).map(([k, xs]) => [k, median(xs)]))]));
    results.latency[up].added_p50_ms_c1 = results.latency[up].G.c1_p50 - results.latency[up].D.c1_p50;
    results.latency[up].added_p50_ms_c1_vs_null = results.latency[up].G.c1_p50 - results.latency[up].N.c1_p50;
  }

  if (PHASES.has('memory')) {
  // Memory growth over repeated rounds (leak check) on G: a fixed amount of work
  // per round, then memory after a full garbage collection (settledMemory). A
  // warm-up round first, so the figures compare steady states, not start-up.
  await cannon(arms.echo.G.url, arms.echo.G.headers, { duration: SECONDS });
  const rssRounds = [];
  const heapRounds = [];
  for (let r = 0; r < LEAK_ROUNDS; r++) {
    await cannon(arms.echo.G.url, arms.echo.G.headers, { duration: SECONDS });
    await cannon(arms.sdk.G.url, arms.sdk.G.headers, { duration: SECONDS });
    const m = await settledMemory(G);
    rssRounds.push(m.rssKiB);
    heapRounds.push(m.heapKiB);
    log(`leak round ${r + 1}: G RSS ${m.rssKiB} KiB, heap ${m.heapKiB} KiB`);
  }
  results.memory.rss_rounds_kib = rssRounds;
  results.memory.heap_rounds_kib = heapRounds;
  results.memory.rss_growth = rssRounds.length > 1 ? (rssRounds.at(-1) - rssRounds[0]) / rssRounds[0] : 0;
  results.memory.heap_growth = heapRounds.length > 1 ? (heapRounds.at(-1) - heapRounds[0]) / heapRounds[0] : 0;

  // RSS at N sessions (echo upstream: cheap sessions upstream, so the gateway's cost shows).
  const gAuth = { authorization: `Bearer ${gCreds.apiToken}` };
  const m0 = await settledMemory(G);
  const sessionIds = [];
  const url = `${G.base}/mcp/echo`;
  for (let i = 0; i < SESSIONS; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, SESSIONS - i) }, () => openSession(url, gAuth)));
    sessionIds.push(...batch);
  }
  const m1 = await settledMemory(G);
  results.memory.sessions = {
    count: sessionIds.length,
    rss_before_kib: m0.rssKiB,
    rss_after_kib: m1.rssKiB,
    kib_per_session: (m1.rssKiB - m0.rssKiB) / sessionIds.length,
    heap_before_kib: m0.heapKiB,
    heap_after_kib: m1.heapKiB,
    heap_kib_per_session: (m1.heapKiB - m0.heapKiB) / sessionIds.length,
  };
  log(`sessions: ${sessionIds.length} → RSS +${m1.rssKiB - m0.rssKiB} KiB, heap +${m1.heapKiB - m0.heapKiB} KiB`);

  // RSS per open proxied SSE stream (GET /mcp/echo with a session each).
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const streams = [];
  const nStreams = Math.min(SSE_STREAMS, sessionIds.length);
  const s0 = await settledMemory(G);
  for (let i = 0; i < nStreams; i += 100) {
    await Promise.all(
      sessionIds.slice(i, Math.min(i + 100, nStreams)).map(
        (sid) =>
          new Promise((resolve) => {
            const u = new URL(url);
            const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', agent, headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL, ...gAuth } }, (res) => {
              if (res.statusCode === 200) streams.push(req);
              res.on('data', () => {});
              res.on('error', () => {});
              resolve();
            });
            req.on('error', () => resolve());
            req.end();
          }),
      ),
    );
  }
  const s1 = await settledMemory(G);
  const nOpen = Math.max(1, streams.length);
  results.memory.sse = {
    streams: streams.length,
    rss_before_kib: s0.rssKiB,
    rss_after_kib: s1.rssKiB,
    kib_per_stream: (s1.rssKiB - s0.rssKiB) / nOpen,
    heap_kib_per_stream: (s1.heapKiB - s0.heapKiB) / nOpen,
  };
  log(`sse: ${streams.length} streams → RSS +${s1.rssKiB - s0.rssKiB} KiB, heap +${s1.heapKiB - s0.heapKiB} KiB`);
  for (const s of streams) s.destroy();

  }


  report(results);
  mkdirSync(join(HERE, 'results'), { recursive: true });
  const out = join(HERE, 'results', `bench-${results.meta.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify(results, null, 2));
  log(`wrote ${out}`);
}

function report(r) {
  const t = r.throughput;
  const L = r.latency;
  const M = r.memory;
  const A = r.auth;
  const status = (v, ok) => (v === undefined || Number.isNaN(v) ? 'not run' : ok(v) ? 'met' : 'MISSED');
  const ratio = (up, k) => {
    const x = t[up]?.[k];
    // three decimals for the median: a 0.897 must not read as a missed "0.90"
    const floors =
      k === 'G/D' && t[up]?.['N/D']
        ? ` (null proxy N/D ${fmt(t[up]['N/D'].median, 3)}${t[up]['F/D'] ? `, floor F/D ${fmt(t[up]['F/D'].median, 3)}` : ''}${t[up]['T/D'] ? `, byte relay T/D ${fmt(t[up]['T/D'].median, 3)}` : ''})`
        : k === 'G/N' && t[up]?.['G/F']
          ? ` (G/F ${fmt(t[up]['G/F'].median, 3)})`
          : '';
    return x ? `${fmt(x.median, 3)} [${x.range.map((v) => fmt(v)).join('–')}]${floors}` : 'not run';
  };
  const added = L.echo ? L.echo.G.c1_p50 - L.echo.D.c1_p50 : undefined;
  const lines = [
    `# Portcullis benchmark — ${r.meta.date}`,
    '',
    `Node ${r.meta.node}, ${r.meta.cpus} CPUs, ${r.meta.rounds} rounds × ${r.meta.seconds} s, ${r.meta.connections} connections, tools/call, auth on, audit on; gateway started as \`node ${[...r.meta.gateway_node_args, 'bin/portcullis.js'].join(' ')}\`.`,
    '',
    '| metric | value (median [range]) | target | status |',
    '|---|---|---|---|',
    `| G/N throughput, SDK upstream | ${ratio('sdk', 'G/N')} | >= 0.90 | ${status(t.sdk?.['G/N'].median, (v) => v >= 0.9)} |`,
    `| G/D throughput, SDK upstream | ${ratio('sdk', 'G/D')} | >= 0.85 | ${status(t.sdk?.['G/D'].median, (v) => v >= 0.85)} |`,
    `| G/N throughput, raw echo upstream | ${ratio('echo', 'G/N')} (G/D ${fmt(t.echo?.['G/D'].median, 3)}) | >= 0.55 | ${status(t.echo?.['G/N'].median, (v) => v >= 0.55)} |`,
    `| added p50 latency at 1 connection (echo, G − D) | ${fmt(added, 3)} ms (null proxy N − D ${fmt(L.echo ? L.echo.N.c1_p50 - L.echo.D.c1_p50 : undefined, 3)} ms, floor F − D ${fmt(L.echo?.F ? L.echo.F.c1_p50 - L.echo.D.c1_p50 : undefined, 3)} ms, byte relay T − D ${fmt(L.echo?.T ? L.echo.T.c1_p50 - L.echo.D.c1_p50 : undefined, 3)} ms) | – | ${added === undefined ? 'not run' : 'reported'} |`,
    `| auth cost, cached ES256 JWT | ${fmt(A?.cached_us, 2)} µs | <= 5 µs | ${status(A?.cached_us, (v) => v <= 5)} |`,
    `| auth cost, uncached ES256 JWT (16 in flight) | ${fmt(A?.uncached_concurrent_us, 1)} µs (one at a time: ${fmt(A?.uncached_us, 1)} µs) | <= 100 µs | ${status(A?.uncached_concurrent_us, (v) => v <= 100)} |`,
    `| RSS per open proxied SSE stream | ${fmt(M.sse?.kib_per_stream, 1)} KiB (${M.sse?.streams ?? 0} streams) | <= 30 KiB | ${status(M.sse?.kib_per_stream, (v) => v <= 30)} |`,
    `| RSS growth over ${M.rss_rounds_kib?.length ?? 0} rounds | ${fmt((M.rss_growth ?? NaN) * 100, 1)} % | < 10 % | ${status(M.rss_growth, (v) => v < 0.1)} |`,
    '',
  ];
  if (t.sdk && t.echo) {
    lines.push('| arm | SDK req/s | echo req/s | gateway CPU µs/req (SDK / echo) |', '|---|---|---|---|');
    for (const a of ARMS)
      lines.push(`| ${a} | ${fmt(t.sdk.rps[a].median, 0)} | ${fmt(t.echo.rps[a].median, 0)} | ${a.startsWith('G') ? `${fmt(r.cpu.sdk[`${a}_us_per_req`], 0)} / ${fmt(r.cpu.echo[`${a}_us_per_req`], 0)}` : ''} |`);
    lines.push('', `Errors/non-2xx during throughput runs: SDK ${JSON.stringify(t.sdk.errors)}, echo ${JSON.stringify(t.echo.errors)}.`, '');
    // Where each arm's CPU goes: the client (autocannon), the upstream and the hop share the machine's CPUs.
    const c = (up, a) => {
      const p = r.cpu[up].per_arm[a];
      const sum = p.client + p.upstream + (p.hop ?? 0);
      return `${fmt(p.client, 0)} / ${fmt(p.upstream, 0)} / ${p.hop === null ? '–' : fmt(p.hop, 0)} = ${fmt(sum, 0)}`;
    };
    lines.push('| arm | CPU µs/req, SDK: client / upstream / hop = total | echo: client / upstream / hop = total |', '|---|---|---|');
    for (const a of ARMS) lines.push(`| ${a} | ${c('sdk', a)} | ${c('echo', a)} |`);
    lines.push('');
  }
  if (L.sdk && L.echo) {
    lines.push('| arm | SDK p50 / p99 @1 conn (ms) | echo p50 / p99 @1 conn (ms) | SDK p50 / p99 @1,000 req/s (ms) | echo p50 / p99 @1,000 req/s (ms) |', '|---|---|---|---|---|');
    for (const a of ARMS)
      lines.push(`| ${a} | ${fmt(L.sdk[a].c1_p50, 3)} / ${fmt(L.sdk[a].c1_p99, 3)} | ${fmt(L.echo[a].c1_p50, 3)} / ${fmt(L.echo[a].c1_p99, 3)} | ${fmt(L.sdk[a].r1000_p50, 3)} / ${fmt(L.sdk[a].r1000_p99, 3)} | ${fmt(L.echo[a].r1000_p50, 3)} / ${fmt(L.echo[a].r1000_p99, 3)} |`);
    lines.push('');
  }
  if (M.sessions)
    lines.push(
      `Sessions: ${M.sessions.count} open → ${fmt(M.sessions.kib_per_session, 2)} KiB RSS each (RSS ${M.sessions.rss_before_kib} → ${M.sessions.rss_after_kib} KiB), ${fmt(M.sessions.heap_kib_per_session, 2)} KiB of V8 heap each. Memory is read after a full GC (inspector).`,
    );
  if (M.sse) lines.push(`SSE streams: ${M.sse.streams} open → ${fmt(M.sse.kib_per_stream, 2)} KiB RSS each (RSS ${M.sse.rss_before_kib} → ${M.sse.rss_after_kib} KiB), ${fmt(M.sse.heap_kib_per_stream, 2)} KiB of V8 heap each.`);
  if (M.rss_rounds_kib) lines.push(`Leak check (after a warm-up round; memory after a full GC), G RSS after each round (KiB): ${M.rss_rounds_kib.join(', ')}; V8 heap (KiB): ${M.heap_rounds_kib?.join(', ')} (${fmt((M.heap_growth ?? NaN) * 100, 1)} %).`);
  if (A)
    lines.push(
      `Auth micro (in-process, ${A.iterations} iterations): cached ${fmt(A.cached_us, 2)} µs (16 in flight ${fmt(A.cached_concurrent_us, 2)}), uncached ES256 ${fmt(A.uncached_us, 1)} µs one at a time / ${fmt(A.uncached_concurrent_us, 1)} µs at 16 in flight, API token cached ${fmt(A.api_token_cached_us, 2)} µs.`,
    );
  process.stdout.write(lines.join('\n') + '\n');
}

await runMain(main);
