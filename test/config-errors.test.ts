/**
 * Config errors a newcomer can act on (issue 27): every problem of a file in
 * one run (schema, cross-references, files), typos named with the nearest
 * known key, hints that say what to write; empty sections; custom roles;
 * the probable-mistake notices printed at start.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configNotices, ConfigError, loadConfig, STARTER_CONFIG, type Config } from '../src/config/index.js';
import { editDistance, nearestKey } from '../src/config/issues.js';
import { runCli } from './helpers/binary.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-config-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string) => {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
};
const load = (text: string, env: Record<string, string> = {}): Config => loadConfig({ file: file(text), env });
function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('every problem in one run', () => {
  it('schema problems, cross-references, files and missing env vars together', () => {
    const problems = problemsOf(
      [
        'server:',
        '  prot: 8080',
        'servers:',
        '  - name: a',
        '    comand: node',
        '  - name: b',
        '    url: http://127.0.0.1:1/mcp',
        '  - name: b',
        '    url: http://127.0.0.1:2/mcp',
        '  - name: c',
        '    url: http://127.0.0.1:3/mcp',
        '    timeout: 60',
        'auth:',
        '  signing: { algorithm: ES256, private_key_file: missing.pem }',
        '  providers:',
        '    - { type: static, name: dev, tokens: [{ name: ci, token_env: CI_TOKEN, role: devs }] }',
      ].join('\n'),
    );
    expect(problems.sort()).toEqual(
      [
        'server.prot: unknown key; did you mean port?',
        'servers[0].comand: unknown key; did you mean command?',
        'servers[3].timeout: write a duration such as 60s (units: ms, s, m, h, d); a bare number has no unit',
        // cross-references and files run although the schema failed
        'servers[2].name: duplicate server name b',
        `auth.signing.private_key_file: file not found: ${join(dir, 'missing.pem')}`,
        'auth.providers[0].tokens[0].token_env: environment variable CI_TOKEN is not set',
        `auth.providers[0].tokens[0].role: unknown role devs; use a built-in role (admin, operator, viewer, user) or define it under roles:`,
      ].sort(),
    );
  });

  it('a typo of url or command is named instead of "needs url or command"; without one, the rule is said', () => {
    expect(problemsOf('servers:\n  - { name: a, ulr: "http://127.0.0.1:1/mcp" }\n')).toEqual(['servers[0].ulr: unknown key; did you mean url?']);
    expect(problemsOf('servers:\n  - { name: a, path: /x }\n')).toEqual(['servers[0].path: unknown key', 'servers[0]: needs url (remote server) or command (stdio server)']);
  });

  it('values of the wrong kind say what to write', () => {
    expect(problemsOf('auth:\n  access_token_ttl: 900\n')).toEqual(['auth.access_token_ttl: write a duration such as 60s (units: ms, s, m, h, d); a bare number has no unit']);
    expect(problemsOf('auth:\n  access_token_ttl: true\n')).toEqual(['auth.access_token_ttl: write a duration such as 60s (units: ms, s, m, h, d)']);
    expect(problemsOf('server:\n  body_limit: [1]\n')).toEqual(['server.body_limit: write a size such as 4MiB, 512KiB or a byte count']);
  });

  it('every YAML error is listed, including duplicate keys', () => {
    const problems = problemsOf('servers: []\nservers: []\n');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/is not valid YAML: Map keys must be unique/);
  });

  it('suggestions come from the keys known at the path, only when close', () => {
    expect(editDistance('comand', 'command')).toBe(1);
    expect(editDistance('prot', 'port')).toBe(1);
    expect(nearestKey('registraton', ['registration', 'providers'])).toBe('registration');
    expect(nearestKey('burst', ['requests', 'per'])).toBeUndefined();
    expect(problemsOf('auth:\n  registraton: closed\n')).toEqual(['auth.registraton: unknown key; did you mean registration?']);
    expect(problemsOf('auth:\n  providers:\n    - { type: jwt, name: corp, issuer: x, audience: y, algorithms: [RS256], jwks_uri: "https://idp/jwks", claim: {} }\n')).toEqual([
      'auth.providers[0].claim: unknown key; did you mean claims?',
    ]);
  });
});

describe('empty sections and the starter config', () => {
  it('a section whose entries are all commented out is empty, not null', () => {
    const c = load('servers:\n#  - name: x\ngroups:\nroles:\nredis:\n');
    expect(c.servers).toEqual([]);
    expect(c.groups).toEqual([]);
    expect(c.roles).toEqual([]);
    expect(c.redis).toBeUndefined();
  });

  it("init's starter has one servers block: uncommenting its examples gives a valid config", () => {
    // the example entries under servers:, groups: and roles:
    let inLists = false;
    const uncommented = STARTER_CONFIG.split('\n')
      .map((l) => {
        if (/^(servers|groups|roles):/.test(l)) inLists = true;
        else if (/^[a-z]/.test(l)) inLists = false;
        return inLists && /^#   /.test(l) ? l.slice(1) : l;
      })
      .join('\n');
    const c = load(uncommented, { DEMO_KEY: 'k' });
    expect(c.servers.map((s) => s.name)).toEqual(['demo', 'files']);
    expect(c.groups.map((g) => g.name)).toEqual(['eng']);
    expect(c.roles).toEqual([{ name: 'developer', description: 'reads the audit, starts and stops servers', permissions: ['servers:read', 'servers:operate', 'audit:read'] }]);
  });
});

describe('roles:', () => {
  it('defines custom roles that providers may name', () => {
    const c = load(
      'roles:\n  - { name: developer, permissions: [audit:read] }\nauth:\n  providers:\n    - { type: static, name: dev, tokens: [{ name: ci, token_env: T, role: developer }] }\n',
      { T: 'x'.repeat(40) },
    );
    expect(c.roles).toEqual([{ name: 'developer', description: '', permissions: ['audit:read'] }]);
    expect(c.auth.providers[0]).toMatchObject({ tokens: [{ role: 'developer' }] });
  });

  it('refuses unknown permissions, built-in names and duplicates', () => {
    expect(problemsOf('roles:\n  - { name: admin }\n  - { name: dev, permissions: [servers:fly] }\n  - { name: ops }\n  - { name: ops }\n')).toEqual([
      'roles[0].name: is a built-in role; choose another name',
      expect.stringMatching(/^roles\[1\]\.permissions\[0\]: Invalid option: expected one of "servers:read"/),
      'roles[3].name: duplicate role name ops',
    ]);
  });
});

describe('probable mistakes are listed at start (notices)', { timeout: 120_000 }, () => {
  it('grants on unknown servers, unknown groups, commands not on PATH, short secrets', () => {
    const bin = join(dir, 'bin');
    const exe = join(dir, 'tool.sh');
    writeFileSync(exe, '#!/bin/sh\n');
    chmodSync(exe, 0o755);
    const c = load(
      [
        'servers:',
        '  - { name: files, command: no-such-command-pcl }',
        `  - { name: tool, command: ${exe} }`,
        'groups:',
        '  - name: eng',
        '    grants: [{ server: wiki, tools: ["*"], access_level: read }, { server: "*", tools: ["*"], access_level: read }]',
        'rate_limits:',
        '  per_group: { ghosts: { requests: 10, per: 1m } }',
        'auth:',
        '  providers:',
        '    - { type: static, name: dev, tokens: [{ name: ci, token_env: SHORT, groups: [eng, nobody] }] }',
      ].join('\n'),
      { SHORT: 'abc12', PATH: bin },
    );
    const notices = configNotices(c);
    expect(notices).toEqual(
      expect.arrayContaining([
        'groups[0].grants[0].server: no server named wiki is defined in servers: (nor, when it starts, in the store); this grant gives nothing',
        'auth.providers[0].tokens[0].groups[1]: group nobody is not defined in groups: (nor, when it starts, in the store); it grants nothing until it exists',
        'rate_limits.per_group.ghosts: group ghosts is not defined in groups: (nor, when it starts, in the store); it grants nothing until it exists',
        'servers[0].command: no-such-command-pcl is not found on PATH; the server cannot start',
        'auth.providers[0].tokens[0].token_env: the token in SHORT has 5 characters; use at least 32 random characters (e.g. openssl rand -base64 32)',
      ]),
    );
    expect(notices).toHaveLength(5);
    // what the store knows counts at start
    expect(configNotices(c, { servers: ['files', 'tool', 'wiki'], groups: ['eng', 'nobody', 'ghosts'], userRoles: ['user', 'gone'] })).toEqual([
      'auth.providers[0].tokens[0].token_env: the token in SHORT has 5 characters; use at least 32 random characters (e.g. openssl rand -base64 32)',
      'servers[0].command: no-such-command-pcl is not found on PATH; the server cannot start',
      'users with role gone: no such role is defined; they have no management permissions until it exists',
    ]);
  });

  it('check-config reports several problems with suggestions in one run (exit 1), and notices as warnings', async () => {
    const bad = file('server:\n  hots: 0.0.0.0\nservers:\n  - { name: a, comand: node }\n  - { name: b, url: "http://127.0.0.1:1/mcp", timeout: 5 }\n');
    const r = await runCli(['check-config', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration (3 problems)');
    expect(r.stderr).toContain('server.hots: unknown key; did you mean host?');
    expect(r.stderr).toContain('servers[0].comand: unknown key; did you mean command?');
    expect(r.stderr).toContain('servers[1].timeout: write a duration such as 60s');
    const warn = file('groups:\n  - { name: eng, grants: [{ server: nowhere, tools: ["*"], access_level: read }] }\n');
    const w = await runCli(['check-config', '--config', warn]);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain('warning: groups[0].grants[0].server: no server named nowhere');
  });
});
