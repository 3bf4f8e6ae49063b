import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClientIpResolver } from '../../src/http/client-ip.js';
import { cidrList, normalizeIp, parseCidr } from '../../src/lib/cidr.js';
import { startTestApp, testConfig, type TestApp } from '../helpers/app.js';

const req = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });

describe('client address resolution', () => {
  const resolve = makeClientIpResolver(['10.0.0.0/8', 'fd00::/8']);

  it('uses the socket address when the peer is not a trusted proxy, ignoring X-Forwarded-For', () => {
    expect(resolve(req('198.51.100.7', '203.0.113.5'))).toBe('198.51.100.7');
    expect(makeClientIpResolver([])(req('10.0.0.1', '203.0.113.5'))).toBe('10.0.0.1');
  });

  it('walks X-Forwarded-For right to left from a trusted peer, skipping trusted hops', () => {
    expect(resolve(req('10.0.0.1', '203.0.113.5'))).toBe('203.0.113.5');
    expect(resolve(req('10.0.0.1', '203.0.113.9, 10.0.0.2'))).toBe('203.0.113.9');
    // A client-supplied entry left of the real client is never used.
    expect(resolve(req('10.0.0.1', '1.1.1.1, 203.0.113.5'))).toBe('203.0.113.5');
    expect(resolve(req('fd00::1', '2001:db8::5, fd00::2'))).toBe('2001:db8::5');
    // Repeated headers are joined in order.
    expect(resolve(req('10.0.0.1', ['1.1.1.1', '203.0.113.5, 10.9.9.9']))).toBe('203.0.113.5');
  });

  it('stops at the last good hop on a malformed entry, and uses the leftmost when every hop is trusted', () => {
    expect(resolve(req('10.0.0.1', 'not-an-ip, 10.0.0.3'))).toBe('10.0.0.3');
    expect(resolve(req('10.0.0.1', 'garbage'))).toBe('10.0.0.1');
    expect(resolve(req('10.0.0.1', '10.0.0.4, 10.0.0.3'))).toBe('10.0.0.4');
    expect(resolve(req('10.0.0.1'))).toBe('10.0.0.1');
  });

  it('normalizes IPv4-mapped IPv6 and ports', () => {
    expect(normalizeIp('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeIp('192.0.2.1:5678')).toBe('192.0.2.1');
    expect(normalizeIp('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(normalizeIp('nope')).toBe('');
    expect(resolve(req('::ffff:10.0.0.1', '203.0.113.5'))).toBe('203.0.113.5');
  });

  it('parses CIDR lists and refuses bad entries', () => {
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('fd00::/129')).toBeUndefined();
    expect(parseCidr('10.0.0.0/x')).toBeUndefined();
    expect(parseCidr('192.0.2.7')).toEqual({ address: '192.0.2.7', prefix: 32, type: 'ipv4' });
    const l = cidrList(['192.0.2.0/24', '2001:db8::/32']);
    expect(l.contains('192.0.2.200')).toBe(true);
    expect(l.contains('192.0.3.1')).toBe(false);
    expect(l.contains('2001:db8:1::1')).toBe(true);
    expect(l.contains('2001:db9::1')).toBe(false);
    expect(l.contains('')).toBe(false);
  });

  it('config refuses invalid CIDRs in trusted_proxies and rate_limits.exempt, naming the path', () => {
    expect(() => testConfig({ server: { trusted_proxies: ['10.0.0.0/99'] } })).toThrow(/server\.trusted_proxies\[0\]: must be an IP address or CIDR/);
    expect(() => testConfig({ rate_limits: { exempt: ['10.0.0.1', 'example.com'] } })).toThrow(/rate_limits\.exempt\[1\]: must be an IP address or CIDR/);
    expect(() => testConfig({ rate_limits: { per_ip: { requests: 0, per: '1m' } } })).toThrow(/rate_limits\.per_ip\.requests/);
    expect(() => testConfig({ rate_limits: { per_user: { requests: 5, per: 'soon' } } })).toThrow(/rate_limits\.per_user\.per/);
    expect(() => testConfig({ rate_limits: { per_ip: { requests: 1, per: '1m' }, bogus: 1 } })).toThrow(/rate_limits\.bogus: unknown key/);
  });
});

describe('X-Forwarded-For in the running gateway', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { server: { trusted_proxies: ['10.0.0.0/8'] }, rate_limits: { per_ip: { requests: 1, per: '1h' } } } });
  });
  afterAll(async () => t.close());

  const hit = (remoteAddress: string, xff?: string) =>
    t.inject({ method: 'GET', url: '/api/v1/auth/me', remoteAddress, headers: xff ? { 'x-forwarded-for': xff } : {} });

  it('is honoured from a trusted proxy: each forwarded client has its own budget', async () => {
    expect((await hit('10.0.0.1', '203.0.113.5')).statusCode).toBe(401);
    expect((await hit('10.0.0.1', '203.0.113.6')).statusCode).toBe(401);
    expect((await hit('10.0.0.2', '203.0.113.5')).statusCode).toBe(429);
    // A spoofed entry prepended by the client does not buy a new budget.
    expect((await hit('10.0.0.1', '9.9.9.9, 203.0.113.6')).statusCode).toBe(429);
  });

  it('is ignored from an untrusted peer: changing the header does not change the budget', async () => {
    expect((await hit('198.51.100.7', '203.0.113.50')).statusCode).toBe(401);
    expect((await hit('198.51.100.7', '203.0.113.51')).statusCode).toBe(429);
    await t.app.services.audit.flush();
    const hits = await t.store.audit.query({ actions: ['rate_limit.hit'], limit: 10 });
    expect(hits.map((h) => h.ip).sort()).toEqual(['198.51.100.7', '203.0.113.5', '203.0.113.6']);
  });

  it('the same address is what routes see as req.ip (login throttling, audit)', async () => {
    const r = await t.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: '10.0.0.9', headers: { 'x-forwarded-for': '203.0.113.77' }, payload: { email: 'nobody@example.com', password: 'wrong-password' } });
    expect(r.statusCode).toBe(401);
    await t.app.services.audit.flush();
    const failed = await t.store.audit.query({ actions: ['auth.login_failed'], limit: 1 });
    expect(failed[0].ip).toBe('203.0.113.77');
  });
});
