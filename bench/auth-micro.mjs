// In-process authentication cost: µs per Authenticator.authenticate() call for
// an ES256 access JWT with the verified-token cache warm and disabled, and for
// an API token with the cache warm; one call at a time and 16 in flight. Prints JSON. Usage: node bench/auth-micro.mjs <es256-key.pem>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config/index.js';
import { openStore } from '../dist/store/index.js';

const keyFile = process.argv[2];
const ITER = Number(process.env.BENCH_AUTH_ITER ?? 20_000);

async function makeApp(cacheSize) {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-auth-micro-'));
  const config = loadConfig({
    object: { storage: { url: `sqlite:${join(dir, 'db.sqlite')}` }, logging: { level: 'silent' }, auth: { signing: { algorithm: 'ES256', private_key_file: keyFile }, token_cache_size: cacheSize } },
    env: {},
  });
  const store = await openStore(config.storage.url);
  const app = await buildApp({ config, store });
  const reg = (await app.http.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'micro@bench.local', password: 'bench-password-1' } })).json();
  const tok = await app.http.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: { authorization: `Bearer ${reg.token}` }, payload: { name: 'micro' } });
  return { app, store, dir, jwt: reg.token, apiToken: tok.statusCode === 201 ? tok.json().token : null };
}

/** µs per call, one call at a time: the median of 5 runs (after a warm-up). */
async function timeIt(fn) {
  for (let i = 0; i < 2000; i++) await fn(); // warm-up (JIT, caches)
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITER / 5; i++) await fn();
    runs.push(Number(process.hrtime.bigint() - t0) / 1000 / (ITER / 5));
  }
  return runs.sort((a, b) => a - b)[2];
}

/** µs per call with `width` calls in flight (what a loaded gateway pays per request). */
async function timeConcurrent(fn, width = 16) {
  for (let i = 0; i < 100; i++) await Promise.all(Array.from({ length: width }, fn));
  const batches = Math.max(1, Math.floor(ITER / width / 2));
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) await Promise.all(Array.from({ length: width }, fn));
  return Number(process.hrtime.bigint() - t0) / 1000 / (batches * width);
}

const input = (t) => ({ authorization: [`Bearer ${t}`], apiKey: undefined, queryCredential: false, peerCertificate: null });

const warm = await makeApp(50_000);
const cold = await makeApp(0);
const cached_us = await timeIt(() => warm.app.services.auth.authenticate(input(warm.jwt)));
const uncached_us = await timeIt(() => cold.app.services.auth.authenticate(input(cold.jwt)));
const uncached_concurrent_us = await timeConcurrent(() => cold.app.services.auth.authenticate(input(cold.jwt)));
const cached_concurrent_us = await timeConcurrent(() => warm.app.services.auth.authenticate(input(warm.jwt)));
const api_token_cached_us = warm.apiToken ? await timeIt(() => warm.app.services.auth.authenticate(input(warm.apiToken))) : null;
for (const a of [warm, cold]) {
  await a.app.close();
  await a.store.close();
  rmSync(a.dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ iterations: ITER, cached_us, cached_concurrent_us, uncached_us, uncached_concurrent_us, api_token_cached_us }) + '\n');
