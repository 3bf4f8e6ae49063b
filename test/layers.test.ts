/**
 * Imports between the folders of src/ go one way (http → auth/policy/proxy →
 * store; config, errors and lib are leaves). Each folder below may import only
 * the folders listed for it; a new edge against the layers fails here, naming
 * the file and the import.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The top-level folder (or root file) of a path under src/. */
const folder = (p: string): string => relative(SRC, p).split('/')[0].replace(/\.ts$/, '');

/** Every relative import of every file, type-only and re-exports included: `from` folder, `to` folder and file. */
function edges(): { from: string; to: string; file: string; target: string }[] {
  const out: { from: string; to: string; file: string; target: string }[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
      const target = resolve(dirname(file), (m[1] ?? m[2]).replace(/\.js$/, '.ts'));
      const from = folder(file);
      const to = folder(target);
      if (from !== to) out.push({ from, to, file: relative(SRC, file), target: relative(SRC, target) });
    }
  }
  return out;
}

/** What each folder may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  lib: [],
  errors: [],
  config: ['lib'],
  store: ['config', 'errors', 'lib'],
  audit: ['store', 'config', 'errors', 'lib'],
  policy: ['config', 'errors', 'lib'],
  auth: ['audit', 'store', 'config', 'errors', 'lib'],
  proxy: ['auth', 'policy', 'audit', 'store', 'config', 'errors', 'lib'],
  ratelimit: ['auth', 'config', 'errors', 'lib'],
  oauth: ['auth', 'audit', 'store', 'config', 'errors', 'lib'],
  cli: ['app', 'main', 'auth', 'audit', 'cluster', 'oauth', 'policy', 'proxy', 'store', 'config', 'errors', 'lib', 'metrics', 'ratelimit'],
};

describe('layers', () => {
  const all = edges();

  it('finds the imports it checks (the scan works)', () => {
    expect(all.some((e) => e.from === 'auth' && e.to === 'store')).toBe(true);
    expect(all.some((e) => e.from === 'http' && e.to === 'auth')).toBe(true);
  });

  for (const [from, allowed] of Object.entries(ALLOWED)) {
    it(`${from}/ imports only ${allowed.length ? allowed.join(', ') : 'nothing else in src/'}`, () => {
      const bad = all.filter((e) => e.from === from && !allowed.includes(e.to)).map((e) => `${e.file} -> ${e.target}`);
      expect(bad).toEqual([]);
    });
  }

  it('ratelimit/ takes from auth/ only the principal type (the limiter factory lives in lib/)', () => {
    const bad = all.filter((e) => e.from === 'ratelimit' && e.to === 'auth' && e.target !== 'auth/principal.ts').map((e) => `${e.file} -> ${e.target}`);
    expect(bad).toEqual([]);
  });
});
