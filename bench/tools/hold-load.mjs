// Helper of bench/tools/system-profile.sh: starts the echo upstream and one hop (ARM: T byte relay, N null
// proxy, F floor gateway, G the gateway), writes the hop's pid
// to $STATE/pid, waits for $STATE/go, holds 16-connection load on it for SECS seconds, and writes the
// number of requests served to $STATE/done.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannon, checkEcho, GATEWAY_NODE_ARGS, gatewayArm, HERE, oneServerConfig, openSession, runMain, spawnReady, startGateway, tempDir } from '../lib.mjs';

const ARM = process.env.ARM ?? 'G';
const STATE = process.env.STATE;
if (!STATE) throw new Error('STATE (a directory) is required');

runMain(async () => {
  const echo = await spawnReady([join(HERE, 'upstream-echo.mjs')], 'echo');
  const upstream = `http://127.0.0.1:${echo.port}`;
  const token = `bench_${randomBytes(24).toString('base64url')}`;
  let arm;
  if (ARM === 'T' || ARM === 'N') {
    const p = await spawnReady([join(HERE, ARM === 'T' ? 'tcp-relay.mjs' : 'null-proxy.mjs'), upstream], ARM);
    arm = { url: `http://127.0.0.1:${p.port}/mcp`, headers: {}, pid: p.pid };
  } else if (ARM === 'F') {
    const p = await spawnReady([...GATEWAY_NODE_ARGS, join(HERE, 'floor-proxy.mjs'), `${upstream}/mcp`, token, join(tempDir('pcl-profile-'), 'audit.sqlite')], ARM);
    arm = { url: `http://127.0.0.1:${p.port}/mcp`, headers: { authorization: `Bearer ${token}` }, pid: p.pid };
  } else if (ARM === 'G') {
    arm = await gatewayArm(await startGateway('G', oneServerConfig('echo', `${upstream}/mcp`)), 'echo');
  } else throw new Error(`ARM must be T, N, F or G, not ${ARM}`);
  if (ARM !== 'G') {
    // gatewayArm opened the gateway's session; the other hops pass initialize through to the upstream
    const sid = await openSession(arm.url, arm.headers);
    if (sid) arm.headers['mcp-session-id'] = sid;
  }
  await checkEcho(arm, ARM);
  await cannon(arm.url, arm.headers, { duration: 5 }); // warm-up (JIT tiers, pools, caches)
  writeFileSync(join(STATE, 'pid'), String(arm.pid));
  while (!existsSync(join(STATE, 'go'))) await new Promise((r) => setTimeout(r, 50));
  const res = await cannon(arm.url, arm.headers, { duration: Number(process.env.SECS ?? 8) });
  writeFileSync(join(STATE, 'done'), `${res.requests.total} ${Math.round(res.requests.average)} ${res.errors + res.non2xx}`);
});
