/**
 * normalizeTarget: the one spelling of a request target that the router,
 * rate limits, authentication and handlers see (SPEC §15).
 */
import { describe, expect, it } from 'vitest';
import { normalizeTarget } from '../../src/http/request-target.js';

describe('normalizeTarget', () => {
  it('keeps a plain origin-form target as it is (the same string)', () => {
    for (const t of ['/', '/mcp/demo', '/api/v1/users/abc-1_2.3~x', '/mcp/demo?x=%2F&y=1', '/api/v1/audit?from=2026-01-01T00:00:00Z', '/mcp/demo/'])
      expect(normalizeTarget(t), t).toBe(t);
  });

  it('takes the path and query of an absolute-form target', () => {
    expect(normalizeTarget('http://127.0.0.1:8080/mcp/demo')).toBe('/mcp/demo');
    expect(normalizeTarget('HTTPS://gateway.example/mcp/demo?x=1')).toBe('/mcp/demo?x=1');
    expect(normalizeTarget('http://gateway.example')).toBe('/');
    expect(normalizeTarget('http://gateway.example?x=1')).toBe('/?x=1');
  });

  it('decodes percent-encoded unreserved characters and upper-cases the hex of the others', () => {
    expect(normalizeTarget('/%6dcp/demo')).toBe('/mcp/demo');
    expect(normalizeTarget('/%61pi/v1/auth/%72egister')).toBe('/api/v1/auth/register');
    expect(normalizeTarget('/api/v1/users/a%2db%5F%7e')).toBe('/api/v1/users/a-b_~');
    expect(normalizeTarget('/api/v1/users/a%20b%3fc')).toBe('/api/v1/users/a%20b%3Fc');
  });

  it('collapses runs of slashes', () => {
    expect(normalizeTarget('//api/v1//auth///register')).toBe('/api/v1/auth/register');
    expect(normalizeTarget('http://h//mcp//demo?a=//b')).toBe('/mcp/demo?a=//b');
  });

  it('leaves case alone', () => {
    expect(normalizeTarget('/MCP/Demo')).toBe('/MCP/Demo');
  });

  it('refuses encoded slashes and backslashes, dot segments, NUL and control characters, bad escapes and other forms', () => {
    for (const t of [
      '/mcp%2fdemo', '/mcp/%2Fdemo', '/mcp\\demo', '/mcp/%5cdemo',
      '/mcp/../api', '/mcp/./demo', '/mcp/%2e%2e/api', '/mcp/.%2E/api', '/mcp/%2E', '/..',
      '/mcp/demo%00', '/mcp/de%0amo', '/mcp/de%7fmo', '/mcp/de\u0000mo', '/mcp/d\u00e9mo', '/mcp/de mo', '/mcp/demo#x',
      '/mcp/de%zzmo', '/mcp/demo%4', '/mcp/demo%',
      '*', 'gateway.example:443', 'mcp/demo', '', 'ftp://h/mcp/demo',
    ])
      expect(normalizeTarget(t), JSON.stringify(t)).toBeNull();
  });

  it('accepts segments that merely contain dots', () => {
    expect(normalizeTarget('/api/v1/users/a.b')).toBe('/api/v1/users/a.b');
    expect(normalizeTarget('/.well-known/oauth-protected-resource/mcp/demo')).toBe('/.well-known/oauth-protected-resource/mcp/demo');
    expect(normalizeTarget('/mcp/...')).toBe('/mcp/...');
  });
});
