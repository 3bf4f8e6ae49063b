/**
 * The real binary: `portcullis servers list|get|tools` on config + store.
 * Needs dist/ (`npm test` builds it first).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/index.js';
import { startTestUpstream, type TestUpstream } from './fixtures/inspector-upstream.js';
import { runCli } from './helpers/binary.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-cli-servers-'));
const cfg = join(dir, 'portcullis.yaml');
let up: TestUpstream;

const cli = (...args: string[]) => runCli(['--config', cfg, ...args]);

beforeAll(async () => {
  up = await startTestUpstream();
  writeFileSync(
    cfg,
    [
      'storage:',
      '  url: sqlite:./data/portcullis.db',
      'logging:',
      '  level: silent',
      'servers:',
      '  - name: demo',
      `    url: ${up.url}`,
      '    description: The demo upstream',
      '    headers: { X-Upstream-Key: "cli-secret-value" }',
      '  - name: files',
      `    command: ${JSON.stringify(process.execPath)}`,
      '    args: ["-e", "setInterval(() => {}, 1000)"]',
      '    env: { ROOT_TOKEN: "env-secret-value" }',
      '',
    ].join('\n'),
  );
  // A runtime-defined server, as the API stores it.
  const store = await openStore(`sqlite:${join(dir, 'data', 'portcullis.db')}`);
  await store.servers.create('runtime', { name: 'runtime', url: 'http://127.0.0.1:9/mcp', timeout: '5s' });
  await store.close();
});

afterAll(async () => {
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each test spawns the binary several times: on a busy machine one run takes seconds.
describe('portcullis servers', { timeout: 120_000 }, () => {
  it('list shows config and runtime servers; --json never carries header or env values', async () => {
    const human = await cli('servers', 'list');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^NAME\s+SOURCE\s+TRANSPORT/m);
    expect(human.stdout).toMatch(/^demo\s+config\s+streamable-http\s+http:\/\/127\.0\.0\.1/m);
    expect(human.stdout).toMatch(/^runtime\s+api\s+streamable-http/m);

    const r = await cli('--json', 'servers', 'list');
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.map((s: { name: string }) => s.name)).toEqual(['demo', 'files', 'runtime']);
    expect(list[0]).toMatchObject({ source: 'config', headers: ['X-Upstream-Key'], description: 'The demo upstream' });
    expect(list[1]).toMatchObject({ transport: 'stdio', env: ['ROOT_TOKEN'] });
    expect(list[2]).toMatchObject({ source: 'api', timeout_ms: 5000 });
    expect(r.stdout + human.stdout).not.toMatch(/cli-secret-value|env-secret-value/);
  });

  it('get shows one server; an unknown name fails with unknown_server', async () => {
    const r = await cli('--json', 'servers', 'get', 'demo');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'demo', url: up.url });
    const missing = await cli('--json', 'servers', 'get', 'nope');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('unknown_server');
  });

  it('tools discovers from the running upstream with the configured headers', async () => {
    const before = up.requests.length;
    const r = await cli('--json', 'servers', 'tools', 'demo');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tools.map((t: { name: string }) => t.name).sort()).toEqual(['add', 'echo', 'secret_admin', 'whoami']);
    expect(up.requests.slice(before).every((q) => q.headers['x-upstream-key'] === 'cli-secret-value')).toBe(true);
    const human = await cli('servers', 'tools', 'demo');
    expect(human.stdout).toMatch(/^echo\s+execute\s+Echo the input$/m);
  });

  it('tools on an unreachable upstream fails cleanly', async () => {
    const r = await cli('servers', 'tools', 'runtime');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^portcullis: /);
  });
});
