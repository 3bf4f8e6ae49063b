import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type z } from 'zod';
import {
  ConfigError,
  configSchema,
  configWarnings,
  ENV_OVERRIDES,
  groupSchema,
  loadConfig,
  NOT_SUPPORTED,
  remoteServerSchema,
  stdioServerSchema,
  type Config,
} from '../src/config/index.js';
import { parseDuration, parseSize } from '../src/lib/duration.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function writeYaml(text: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

/** Load from YAML text with exactly the given env (never process.env). */
function fromYaml(text: string, env: Record<string, string> = {}): Config {
  return loadConfig({ file: writeYaml(text), env });
}

/** The problems a config produces; fails the test if it loads. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('config: defaults', () => {
  it('no file and no env gives the documented defaults', () => {
    const c = loadConfig({ file: null, env: {}, cwd: dir });
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.server.port).toBe(8080);
    expect(c.server.public_url).toBe('http://127.0.0.1:8080');
    expect(c.server.body_limit).toBe(4 * 1024 * 1024);
    expect(c.storage.url).toBe(`sqlite:${join(dir, 'data', 'portcullis.db')}`);
    expect(c.auth.registration).toBe('open');
    expect(c.auth.access_token_ttl).toBe(15 * 60_000);
    expect(c.auth.refresh_token_ttl).toBe(30 * 86_400_000);
    expect(c.audit.retention).toBe(90 * 86_400_000);
    expect(c.metrics).toMatchObject({ enabled: true, path: '/metrics' });
    expect(c.configFile).toBeNull();
    expect(Object.isFrozen(c) && Object.isFrozen(c.server)).toBe(true);
  });

  it('an empty file is the defaults', () => {
    expect(fromYaml('').server.port).toBe(8080);
  });
});

describe('config: ${ENV} interpolation', () => {
  it('replaces ${VAR} anywhere in a string value', () => {
    const c = fromYaml('server:\n  public_url: "https://${HOST_NAME}:${PORT_NO}/gw"\n', { HOST_NAME: 'gw.example.com', PORT_NO: '8443' });
    expect(c.server.public_url).toBe('https://gw.example.com:8443/gw');
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty', () => {
    const yaml = 'storage:\n  url: "${DB_URL:-sqlite:./x/db.sqlite}"\n';
    expect(fromYaml(yaml, {}).storage.url).toBe(`sqlite:${join(dir, 'x', 'db.sqlite')}`);
    expect(fromYaml(yaml, { DB_URL: '' }).storage.url).toBe(`sqlite:${join(dir, 'x', 'db.sqlite')}`);
    expect(fromYaml(yaml, { DB_URL: 'postgres://u@h/db' }).storage.url).toBe('postgres://u@h/db');
  });

  it('$${ is a literal ${ and is not interpolated', () => {
    const c = fromYaml(
      'servers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\n    headers: { X-Template: "$${NOT_A_VAR} and ${REAL}" }\n',
      { REAL: 'r', NOT_A_VAR: 'leaked' },
    );
    expect((c.servers[0] as { headers: Record<string, string> }).headers['X-Template']).toBe('${NOT_A_VAR} and r');
  });

  it('a missing variable is an error naming the path and the variable', () => {
    const problems = problemsOf(() =>
      fromYaml('servers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\n    headers: { X-Upstream-Key: "${DEMO_KEY}" }\n'),
    );
    expect(problems).toContain('servers[0].headers.X-Upstream-Key: environment variable DEMO_KEY is not set');
  });

  it('server headers: framing and hop-by-hop names, and values with control characters, are refused', () => {
    const problems = problemsOf(() =>
      fromYaml('servers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\n    headers: { Host: evil.example, Connection: close, X-Key: "${KEY}" }\n', { KEY: 'secret\r\nX-Injected: 1' }),
    );
    expect(problems).toContain('servers[0].headers.Host: this header is set by the gateway and cannot be configured');
    expect(problems).toContain('servers[0].headers.Connection: this header is set by the gateway and cannot be configured');
    expect(problems.find((p) => p.startsWith('servers[0].headers.X-Key:'))).toMatch(/invalid header value/);
    // The value itself (a secret) is not echoed in the problem.
    expect(problems.join('\n')).not.toContain('secret');
  });

  it('interpolates inside numbers-as-strings only where the schema accepts strings', () => {
    const problems = problemsOf(() => fromYaml('server:\n  port: "${P}"\n', { P: '9000' }));
    expect(problems).toEqual(['server.port: Invalid input: expected number, received string']);
  });
});

describe('config: PORTCULLIS_* env overrides', () => {
  it('every documented override exists', () => {
    expect(ENV_OVERRIDES.map((o) => o.env).sort()).toEqual(
      [
        'PORTCULLIS_DATABASE_URL',
        'PORTCULLIS_ENCRYPTION_KEY',
        'PORTCULLIS_HOST',
        'PORTCULLIS_LOG_LEVEL',
        'PORTCULLIS_PORT',
        'PORTCULLIS_PUBLIC_URL',
        'PORTCULLIS_REDIS_URL',
      ].sort(),
    );
  });

  it('PORTCULLIS_HOST / PORT / PUBLIC_URL / DATABASE_URL / LOG_LEVEL / ENCRYPTION_KEY override the file', () => {
    const key = 'a'.repeat(64);
    const c = fromYaml('server:\n  host: 127.0.0.1\n  port: 8080\nstorage:\n  url: sqlite:./a.db\nlogging:\n  level: info\n', {
      PORTCULLIS_HOST: '::1',
      PORTCULLIS_PORT: '9123',
      PORTCULLIS_PUBLIC_URL: 'https://gw.example.com/',
      PORTCULLIS_DATABASE_URL: 'postgres://app@db.internal/portcullis',
      PORTCULLIS_LOG_LEVEL: 'warn',
      PORTCULLIS_ENCRYPTION_KEY: key,
    });
    expect(c.server.host).toBe('::1');
    expect(c.server.port).toBe(9123);
    expect(c.server.public_url).toBe('https://gw.example.com');
    expect(c.storage.url).toBe('postgres://app@db.internal/portcullis');
    expect(c.logging.level).toBe('warn');
    expect(c.credentials.encryption_key).toBe(key);
  });

  it('the public URL is derived from host and port when not set', () => {
    expect(loadConfig({ file: null, env: { PORTCULLIS_HOST: '::1', PORTCULLIS_PORT: '9001' } }).server.public_url).toBe('http://[::1]:9001');
    expect(loadConfig({ file: null, env: { PORTCULLIS_HOST: '0.0.0.0' } }).server.public_url).toBe('http://127.0.0.1:8080');
  });

  it('PORTCULLIS_REDIS_URL sets redis.url (and is validated like the file value)', () => {
    const bad = problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_REDIS_URL: 'http://127.0.0.1:6379' } }));
    expect(bad).toContain('redis.url: must be a redis:// or rediss:// URL (from PORTCULLIS_REDIS_URL)');
    // While redis is not implemented the section is refused; once it is, the value lands in redis.url.
    if (NOT_SUPPORTED.some((s) => s.path === 'redis')) {
      expect(problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_REDIS_URL: 'redis://127.0.0.1:6379' } }))).toEqual([
        'redis: not supported yet in this version of Portcullis',
      ]);
    } else {
      expect(loadConfig({ file: null, env: { PORTCULLIS_REDIS_URL: 'redis://127.0.0.1:6379/2' } }).redis?.url).toBe('redis://127.0.0.1:6379/2');
    }
  });

  it('PORTCULLIS_CONFIG names the file when no explicit file is given', () => {
    const f = writeYaml('server:\n  port: 7001\n');
    const c = loadConfig({ env: { PORTCULLIS_CONFIG: f } });
    expect(c.server.port).toBe(7001);
    expect(c.configFile).toBe(f);
    // an explicit file wins over the env var
    const g = writeYaml('server:\n  port: 7002\n');
    expect(loadConfig({ file: g, env: { PORTCULLIS_CONFIG: f } }).server.port).toBe(7002);
  });

  it('bad override values name the variable', () => {
    expect(problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_PORT: 'eighty' } }))).toEqual(['PORTCULLIS_PORT: must be a port number (0-65535)']);
    expect(problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_PORT: '70000' } }))).toEqual(['PORTCULLIS_PORT: must be a port number (0-65535)']);
    const lvl = problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_LOG_LEVEL: 'loud' } }));
    expect(lvl).toHaveLength(1);
    expect(lvl[0]).toMatch(/^logging\.level: .*\(from PORTCULLIS_LOG_LEVEL\)$/);
    expect(problemsOf(() => loadConfig({ file: null, env: { PORTCULLIS_DATABASE_URL: 'mysql://x' } }))).toEqual([
      'storage.url: must be sqlite:PATH or postgres://... (from PORTCULLIS_DATABASE_URL)',
    ]);
  });

  it('a missing config file is an error', () => {
    expect(problemsOf(() => loadConfig({ file: join(dir, 'nope.yaml'), env: {} }))[0]).toMatch(/^config file not found: /);
  });

  it('invalid YAML is an error', () => {
    expect(problemsOf(() => fromYaml('server: [unclosed\n'))[0]).toMatch(/is not valid YAML/);
  });

  it('a non-mapping root is an error', () => {
    expect(problemsOf(() => fromYaml('- a\n- b\n'))).toEqual(['(root): must be a mapping']);
  });
});

describe('config: strict validation with paths', () => {
  it('unknown keys are reported with their full path', () => {
    const problems = problemsOf(() =>
      fromYaml(
        [
          'serverr: {}',
          'server:',
          '  hots: 0.0.0.0',
          'auth:',
          '  login_throttle:',
          '    per_account: { requests: 5, per: 15m, burst: 2 }',
          'servers:',
          '  - name: demo',
          '    url: http://127.0.0.1:3001/mcp',
          '    header: { A: b }',
          'groups:',
          '  - name: eng',
          '    grants: [{ server: demo, tools: ["*"], access_level: execute, level: 2 }]',
        ].join('\n'),
      ),
    );
    expect(problems.sort()).toEqual(
      [
        // a typo names the nearest known key
        'serverr: unknown key; did you mean server?',
        'server.hots: unknown key; did you mean host?',
        'auth.login_throttle.per_account.burst: unknown key',
        'servers[0].header: unknown key; did you mean headers?',
        'groups[0].grants[0].level: unknown key',
      ].sort(),
    );
  });

  it('a bad server URL names the entry and the field exactly', () => {
    const problems = problemsOf(() =>
      fromYaml('servers:\n  - name: demo\n    url: http://127.0.0.1:3001/mcp\n  - name: other\n    url: ftp://files.example.com/\n'),
    );
    expect(problems).toEqual(['servers[1].url: must be an http(s) URL']);
  });

  it('server entries are remote (url) or stdio (command) and problems name the real field', () => {
    const problems = problemsOf(() =>
      fromYaml(
        [
          'servers:',
          '  - name: Bad_Name',
          '    url: http://127.0.0.1:3001/mcp',
          '  - name: files',
          '    command: node',
          '    args: [server.js]',
          '    timeout: soon',
          '    env: { "1BAD": x }',
          '  - name: both',
          '    url: http://127.0.0.1:3001/mcp',
          '    command: node',
          '  - name: neither',
          '  - name: remote',
          '    url: http://127.0.0.1:3001/mcp',
          '    transport: websocket',
          '    args: [x]',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      'servers[0].name: must match [a-z0-9-]+ (max 64 chars, no leading/trailing -)',
      'servers[1].env.1BAD: invalid env var name',
      'servers[1].timeout: must be a duration like 500ms, 60s, 15m, 24h or 30d',
      'servers[2]: set either url (remote server) or command (stdio server), not both',
      'servers[3]: needs url (remote server) or command (stdio server)',
      'servers[4].transport: Invalid option: expected one of "streamable-http"|"sse"',
      'servers[4].args: unknown key',
    ]);
  });

  it('several problems across sections are reported at once', () => {
    const problems = problemsOf(() =>
      fromYaml(
        [
          'server:',
          '  port: 99999',
          '  body_limit: lots',
          'storage:',
          '  url: mysql://db/x',
          'auth:',
          '  registration: sometimes',
          '  access_token_ttl: 15 minutes',
          'metrics:',
          '  path: metrics',
          'servers:',
          '  - name: a',
          '    url: http://127.0.0.1:1/mcp',
          '  - name: a',
          '    url: http://127.0.0.1:2/mcp',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port: /),
        'server.body_limit: must be a size like 4MiB, 512KiB or a byte count',
        'storage.url: must be sqlite:PATH or postgres://...',
        expect.stringMatching(/^auth\.registration: Invalid option/),
        'auth.access_token_ttl: must be a duration like 500ms, 60s, 15m, 24h or 30d',
        expect.stringMatching(/^metrics\.path: /),
      ]),
    );
    // every problem in one run: the cross-checks (duplicates) run on the entries that parsed
    expect(problems).toContain('servers[1].name: duplicate server name a');
    expect(problems).toHaveLength(7);
    expect(problemsOf(() => fromYaml('servers:\n  - { name: a, url: "http://127.0.0.1:1/mcp" }\n  - { name: a, command: node }\n'))).toEqual([
      'servers[1].name: duplicate server name a',
    ]);
    expect(problemsOf(() => fromYaml('groups:\n  - { name: eng }\n  - { name: eng }\n'))).toEqual(['groups[1].name: duplicate group name eng']);
  });

  it('the error message lists every problem', () => {
    try {
      fromYaml('server:\n  port: -1\nstorage:\n  url: nope\n');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/^invalid configuration:\n {2}server\.port: .*\n {2}storage\.url: /);
    }
  });
});

describe('config: durations and sizes', () => {
  it('parses every documented duration unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('30d')).toBe(2_592_000_000);
    expect(parseDuration('1.5s')).toBe(1500);
    for (const bad of ['', '15', 'm', '15 min', '-5s', '1w', '5S']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('parses sizes in bytes, SI and binary units', () => {
    expect(parseSize('4MiB')).toBe(4 * 1024 * 1024);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('1MB')).toBe(1_000_000);
    expect(parseSize('1gib')).toBe(1024 ** 3);
    expect(parseSize(2048)).toBe(2048);
    expect(parseSize('100')).toBe(100);
    for (const bad of ['', '0', 0, -1, 1.5, 'big', '4 TiB']) expect(parseSize(bad)).toBeUndefined();
  });

  it('config durations and sizes become milliseconds and bytes', () => {
    const c = fromYaml(
      [
        'server:',
        '  body_limit: 512KiB',
        '  shutdown_timeout: 500ms',
        'auth:',
        '  access_token_ttl: 5m',
        '  refresh_token_ttl: 7d',
        'audit:',
        '  retention: 24h',
        'servers:',
        '  - name: demo',
        '    url: http://127.0.0.1:3001/mcp',
        '    timeout: 90s',
      ].join('\n'),
    );
    expect(c.server.body_limit).toBe(512 * 1024);
    expect(c.server.shutdown_timeout).toBe(500);
    expect(c.auth.access_token_ttl).toBe(300_000);
    expect(c.auth.refresh_token_ttl).toBe(7 * 86_400_000);
    expect(c.audit.retention).toBe(86_400_000);
    expect(c.servers[0].timeout).toBe(90_000);
    expect(fromYaml('server:\n  body_limit: 1000000\n').server.body_limit).toBe(1_000_000);
  });
});

describe('config: relative paths', () => {
  it('are resolved against the config file folder, not the working directory', () => {
    const sub = mkdtempSync(join(dir, 'sub-'));
    const f = join(sub, 'portcullis.yaml');
    mkdirSync(join(sub, 'keys'));
    writeFileSync(join(sub, 'keys', 'signing.pem'), generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(
      f,
      [
        'storage:',
        '  url: sqlite:./data/gw.db',
        'auth:',
        '  signing:',
        '    algorithm: ES256',
        '    private_key_file: keys/signing.pem',
        'servers:',
        '  - name: files',
        '    command: node',
        '    cwd: ../work',
      ].join('\n'),
    );
    const c = loadConfig({ file: f, env: {} });
    expect(c.configDir).toBe(sub);
    expect(c.storage.url).toBe(`sqlite:${join(sub, 'data', 'gw.db')}`);
    expect(c.auth.signing?.private_key_file).toBe(join(sub, 'keys', 'signing.pem'));
    expect((c.servers[0] as { cwd?: string }).cwd).toBe(join(dir, 'work'));
  });

  it('a referenced file that does not exist is a problem naming the path', () => {
    expect(problemsOf(() => fromYaml('auth:\n  signing:\n    algorithm: ES256\n    private_key_file: nope/signing.pem\n'))).toEqual([
      `auth.signing.private_key_file: file not found: ${join(dir, 'nope', 'signing.pem')}`,
    ]);
  });

  it('the signing key must parse, fit the algorithm, and be large enough', () => {
    const pem = (k: ReturnType<typeof generateKeyPairSync>['privateKey']) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
    writeFileSync(join(dir, 'p256.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey));
    writeFileSync(join(dir, 'p384.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey));
    writeFileSync(join(dir, 'rsa1024.pem'), pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey));
    writeFileSync(join(dir, 'rsa2048.pem'), pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
    writeFileSync(join(dir, 'public.pem'), generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' }));
    const signing = (alg: string, file: string) => `auth:\n  signing:\n    algorithm: ${alg}\n    private_key_file: ${file}\n`;
    expect(fromYaml(signing('ES256', 'p256.pem')).auth.signing?.algorithm).toBe('ES256');
    expect(fromYaml(signing('RS256', 'rsa2048.pem')).auth.signing?.algorithm).toBe('RS256');
    expect(fromYaml(signing('PS256', 'rsa2048.pem')).auth.signing?.algorithm).toBe('PS256');
    expect(problemsOf(() => fromYaml(signing('ES256', 'p384.pem')))).toEqual(['auth.signing.private_key_file: ES256 does not fit the ec (secp384r1) key']);
    expect(problemsOf(() => fromYaml(signing('EdDSA', 'p256.pem')))).toEqual(['auth.signing.private_key_file: EdDSA does not fit the ec (prime256v1) key']);
    expect(problemsOf(() => fromYaml(signing('RS256', 'rsa1024.pem')))).toEqual(['auth.signing.private_key_file: RS256 needs an RSA key of at least 2048 bits, this one has 1024']);
    expect(problemsOf(() => fromYaml(signing('ES256', 'public.pem')))).toEqual([`auth.signing.private_key_file: not an unencrypted PEM private key: ${join(dir, 'public.pem')}`]);
    mkdirSync(join(dir, 'a-directory.pem'));
    expect(problemsOf(() => fromYaml(signing('ES256', 'a-directory.pem')))).toEqual([`auth.signing.private_key_file: cannot be read (EISDIR): ${join(dir, 'a-directory.pem')}`]);
  });

  it('absolute paths and sqlite::memory: are kept', () => {
    expect(fromYaml('storage:\n  url: sqlite:/var/lib/portcullis/db.sqlite\n').storage.url).toBe('sqlite:/var/lib/portcullis/db.sqlite');
    expect(fromYaml('storage:\n  url: "sqlite::memory:"\n').storage.url).toBe('sqlite::memory:');
  });

  it('without a file, paths are resolved against the given working directory', () => {
    expect(loadConfig({ file: null, env: {}, cwd: '/srv/gw' }).storage.url).toBe('sqlite:/srv/gw/data/portcullis.db');
  });
});

describe('config: sections not supported yet', () => {
  /** A config that uses each not-yet-implemented section. */
  const EXAMPLES: Record<string, string> = {
    'auth.providers': 'auth:\n  providers:\n    - { type: mtls, name: svc, allowed_subjects: ["CN=a"] }\n',
    'server.tls': 'server:\n  tls: { cert_file: a.crt, key_file: a.key }\n',
    redis: 'redis:\n  url: redis://127.0.0.1:6379\n',
    rate_limits: 'rate_limits:\n  per_ip: { requests: 10, per: 1m }\n',
  };

  it('every unsupported section has an example here', () => {
    for (const s of NOT_SUPPORTED) expect(EXAMPLES[s.path], `add an example config for ${s.path}`).toBeDefined();
  });

  for (const [path, yaml] of Object.entries(EXAMPLES)) {
    it(`${path}: refused with "not supported yet" while unimplemented, accepted once implemented`, () => {
      let problems: string[] = [];
      try {
        fromYaml(yaml);
      } catch (e) {
        problems = (e as ConfigError).problems;
      }
      if (NOT_SUPPORTED.some((s) => s.path === path)) expect(problems).toContain(`${path}: not supported yet in this version of Portcullis`);
      // implemented sections may still have other problems in this minimal example (e.g. missing files)
      else expect(problems.filter((p) => p.includes('not supported yet'))).toEqual([]);
    });
  }

  it('a listed section is refused with its path, alongside other problems', () => {
    NOT_SUPPORTED.push({ path: 'metrics', when: (r) => r.metrics !== undefined });
    try {
      expect(problemsOf(() => fromYaml('metrics:\n  enabled: false\nserver:\n  port: x\n')).sort()).toEqual(
        ['metrics: not supported yet in this version of Portcullis', 'server.port: Invalid input: expected number, received string'].sort(),
      );
      expect(() => fromYaml('server:\n  port: 1\n')).not.toThrow();
    } finally {
      NOT_SUPPORTED.pop();
    }
  });

  it('an empty unsupported section is not an error', () => {
    expect(() => fromYaml('auth:\n  providers: []\nrate_limits: {}\n')).not.toThrow();
  });
});

describe('config: unsafe-setting warnings', () => {
  it('warns when a non-loopback host is bound without TLS', () => {
    const w = configWarnings(loadConfig({ file: null, env: { PORTCULLIS_HOST: '0.0.0.0' } }));
    expect(w.some((m) => m.startsWith('server.host is 0.0.0.0') && m.includes('TLS is off'))).toBe(true);
  });

  it('does not warn on loopback', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost', '127.0.0.2']) expect(configWarnings(loadConfig({ file: null, env: { PORTCULLIS_HOST: host } }))).toEqual([]);
  });

  it('does not warn about TLS behind an https public URL, still warns about open registration', () => {
    const w = configWarnings(loadConfig({ file: null, env: { PORTCULLIS_HOST: '0.0.0.0', PORTCULLIS_PUBLIC_URL: 'https://gw.example.com' } }));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^auth\.registration is open/);
    const closed = fromYaml('server:\n  host: 0.0.0.0\n  public_url: https://gw.example.com\nauth:\n  registration: closed\n');
    expect(configWarnings(closed)).toEqual([]);
  });
});

describe('docs/configuration.md documents every key', () => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');

  /** Dotted paths of every object key in a zod schema (through optional/default/pipe/array wrappers). */
  function keyPaths(schema: z.ZodType, prefix: string, out: string[]): string[] {
    const def = (schema as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType } }).def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'prefault' || def.type === 'nullable') return keyPaths(def.innerType!, prefix, out);
    if (def.type === 'pipe') return keyPaths(def.in!, prefix, out);
    if (def.type === 'object') {
      for (const [k, v] of Object.entries((schema as unknown as z.ZodObject).shape)) {
        const p = prefix ? `${prefix}.${k}` : k;
        out.push(p);
        keyPaths(v as z.ZodType, p, out);
      }
    }
    return out;
  }

  it('every key of the top-level sections appears as `section.key`', () => {
    const paths = keyPaths(configSchema, '', []).filter((p) => !['servers', 'groups'].includes(p.split('.')[0]));
    // provider entries are documented per type in docs/providers.md and docs/mtls.md
    // rate rules ({requests, per}) and rate_limits.per_token ({default_per_hour}) are documented as a whole
    const documentedWhole = (p: string) => /\.(requests|per)$/.test(p) || p.startsWith('rate_limits.per_token.');
    const missing = paths.filter((p) => !p.startsWith('auth.providers.') && !documentedWhole(p) && !doc.includes(`\`${p}\``));
    expect(missing).toEqual([]);
  });

  it('every key of server and group entries appears in its table', () => {
    const entryKeys = [...Object.keys(remoteServerSchema.shape), ...Object.keys(stdioServerSchema.shape), ...Object.keys(groupSchema.shape)];
    expect(entryKeys.filter((k) => !doc.includes(`| \`${k}\` |`))).toEqual([]);
  });

  it('every env override is documented', () => {
    for (const o of ENV_OVERRIDES) expect(doc).toContain(`| \`${o.env}\` | \`${o.path.join('.')}\``);
    expect(doc).toContain('`PORTCULLIS_CONFIG`');
  });
});

describe('config: server.timeouts', () => {
  it('defaults to headers 10s, request 30s, keep_alive 5s; durations are read as such', () => {
    expect(loadConfig({ file: null, env: {}, cwd: dir }).server.timeouts).toEqual({ headers: 10_000, request: 30_000, keep_alive: 5_000 });
    expect(fromYaml('server:\n  timeouts:\n    headers: 500ms\n    request: 2m\n').server.timeouts).toEqual({ headers: 500, request: 120_000, keep_alive: 5_000 });
  });

  it('refuses zero, malformed durations, unknown keys and a head timeout longer than the request timeout, naming the path', () => {
    expect(problemsOf(() => fromYaml('server:\n  timeouts:\n    keep_alive: 0s\n'))).toEqual([expect.stringMatching(/^server\.timeouts\.keep_alive: must be longer than 0/)]);
    expect(problemsOf(() => fromYaml('server:\n  timeouts:\n    request: soon\n'))).toEqual([expect.stringMatching(/^server\.timeouts\.request: must be a duration/)]);
    expect(problemsOf(() => fromYaml('server:\n  timeouts:\n    body: 5s\n'))).toEqual([expect.stringMatching(/^server\.timeouts/)]);
    expect(problemsOf(() => fromYaml('server:\n  timeouts:\n    headers: 1m\n    request: 30s\n'))).toEqual([expect.stringMatching(/^server\.timeouts\.headers: headers must not be longer than request/)]);
  });
});
