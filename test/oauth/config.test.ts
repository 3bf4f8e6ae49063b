/**
 * `auth.authorization_server`, `auth.browser_sessions`, `auth.password_login`
 * and the jwt provider's `advertise` (SPEC §10/§11): defaults as the SPEC
 * shows them, and every bad value refused with its path.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig } from '../../src/config/index.js';
import { applicationTypeFor, redirectUriProblem } from '../../src/lib/redirect-uri.js';

const load = (object: Record<string, unknown>, env: Record<string, string> = {}) => loadConfig({ object, env });

function problems(object: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    load(object, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('the config loaded');
}

describe('authorization server config', () => {
  it('defaults are the SPEC’s', () => {
    const c = load({});
    expect(c.auth.authorization_server).toEqual({
      enabled: true,
      client_id_metadata_documents: { enabled: true, allowed_hosts: [], allow_loopback_http: false },
      dynamic_registration: 'open',
      clients: [],
      authorization_code_ttl: 60_000,
      consent_ttl: 90 * 86_400_000,
    });
    expect(c.auth.browser_sessions).toEqual({ idle_timeout: 8 * 3_600_000, max_age: 7 * 86_400_000 });
    expect(c.auth.password_login).toBe(true);
    expect(configWarnings(c)).toEqual([]);
  });

  it('refuses bad values, naming each path', () => {
    const p = problems({
      auth: {
        authorization_server: {
          dynamic_registration: 'sometimes',
          authorization_code_ttl: '1h',
          client_id_metadata_documents: { allowed_hosts: ['https://claude.ai'], follow_redirects: true },
          clients: [
            { client_id: 'a b', client_name: 'x', redirect_uris: ['http://evil.example/cb'] },
            { client_id: 'dup', client_name: 'x', redirect_uris: ['https://ok.example/cb'], client_secret_env: 'MISSING' },
            { client_id: 'dup', client_name: 'x', redirect_uris: ['https://ok.example/cb#frag'], client_secret: 'inline' },
          ],
        },
        browser_sessions: { idle_timeout: '8d', max_age: '7d' },
      },
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^auth\.authorization_server\.dynamic_registration: /),
        'auth.authorization_server.authorization_code_ttl: must be between 1s and 10m',
        expect.stringMatching(/^auth\.authorization_server\.client_id_metadata_documents\.allowed_hosts\[0\]: must be a host name/),
        'auth.authorization_server.client_id_metadata_documents.follow_redirects: unknown key',
        expect.stringMatching(/^auth\.authorization_server\.clients\[0\]\.client_id: /),
      ]),
    );
    // the rules that need the whole config are reported when the schema passes
    const q = problems(
      {
        auth: {
          authorization_server: {
            clients: [
              { client_id: 'a', client_name: 'x', redirect_uris: ['http://evil.example/cb'] },
              { client_id: 'dup', client_name: 'x', redirect_uris: ['https://ok.example/cb'], client_secret_env: 'MISSING' },
              { client_id: 'dup', client_name: 'x', redirect_uris: ['https://ok.example/cb#frag'], client_secret: 'inline' },
              { client_id: 'short', client_name: 'x', redirect_uris: ['myapp://cb'], client_secret_env: 'SHORT' },
            ],
          },
          browser_sessions: { idle_timeout: '8d', max_age: '7d' },
        },
      },
      { SHORT: 'too-short' },
    );
    expect(q).toEqual(
      expect.arrayContaining([
        'auth.authorization_server.clients[0].redirect_uris[0]: http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https',
        'auth.authorization_server.clients[1].client_secret_env: environment variable MISSING is not set',
        'auth.authorization_server.clients[2].client_id: duplicate client_id dup',
        'auth.authorization_server.clients[2].client_secret: not allowed in the file; use client_secret_env',
        'auth.authorization_server.clients[2].redirect_uris[0]: must not contain a fragment',
        'auth.authorization_server.clients[3].client_secret_env: the secret in SHORT must be at least 32 characters',
        'auth.browser_sessions.idle_timeout: must not be longer than max_age',
      ]),
    );
  });

  it('a pre-registered client gets its secret from the environment', () => {
    const c = load({ auth: { authorization_server: { clients: [{ client_id: 'desk', client_name: 'Desk', redirect_uris: ['https://d.example/cb'], client_secret_env: 'DESK' }] } } }, { DESK: 's'.repeat(40) });
    expect(c.auth.authorization_server.clients[0].client_secret).toBe('s'.repeat(40));
  });

  it('warns about allow_loopback_http and about turning password sign-in off', () => {
    const w = configWarnings(load({ auth: { password_login: false, authorization_server: { client_id_metadata_documents: { allow_loopback_http: true } } } }));
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/allow_loopback_http/);
    expect(w[1]).toMatch(/password_login/);
  });

  it('a jwt provider may be advertised (default: not)', () => {
    const base = { type: 'jwt', name: 'corp', issuer: 'https://idp.example.com', audience: 'x', algorithms: ['HS256'], secret_env: 'S' };
    const env = { S: 'x'.repeat(32) };
    const [p] = load({ auth: { providers: [base] } }, env).auth.providers;
    expect(p.type === 'jwt' && p.advertise).toBe(false);
    const [q] = load({ auth: { providers: [{ ...base, advertise: true }] } }, env).auth.providers;
    expect(q.type === 'jwt' && q.advertise).toBe(true);
  });
});

describe('redirect URI rules', () => {
  it('https, loopback http and private-use schemes; nothing else', () => {
    for (const ok of ['https://claude.ai/api/mcp/auth_callback', 'http://127.0.0.1:33418', 'http://localhost/cb', 'http://[::1]:8080/cb', 'cursor://anysphere.cursor-retrieval/cb', 'com.example.app:/oauth'])
      expect(redirectUriProblem(ok), ok).toBeNull();
    for (const bad of ['http://example.com/cb', 'https://a.example/cb#', 'javascript:alert(1)', 'file:///etc/passwd', 'https://u:p@a.example/cb', '/relative', 'https://a.example/\\evil', ''])
      expect(redirectUriProblem(bad), bad).not.toBeNull();
    expect(applicationTypeFor(['https://a.example/cb'])).toBe('web');
    expect(applicationTypeFor(['https://a.example/cb', 'http://127.0.0.1/cb'])).toBe('native');
    expect(applicationTypeFor(['vscode://x/cb'])).toBe('native');
  });
});
