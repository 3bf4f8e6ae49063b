/**
 * Client certificates that must never authenticate: not issued by the
 * configured CA, revoked in the CRL, or with a subject outside
 * allowed_subjects; plus the TLS floor (min_version). Real certificates from
 * openssl, real TLS sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { httpsRequest, type HttpsResult } from '../helpers/https-client.js';

const subjects = { allowed: '/CN=client-001', revoked: '/CN=service-revoked', disallowed: '/CN=intruder', lookalike: '/CN=client-0010' };

function expectRefused(r: HttpsResult, code: string) {
  expect(r.status).toBe(401);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(r.json().code).toBe(code);
  expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer /);
  if (code !== 'unauthenticated') expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
}

async function startTlsApp(pki: TestPki, tls: Record<string, unknown>): Promise<{ t: TestApp; base: string }> {
  const t = await startTestApp({
    config: {
      server: { tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_ca_file: pki.caFile, crl_file: pki.crlFile, ...tls } },
      auth: { providers: [{ type: 'mtls', name: 'services', allowed_subjects: ['CN=client-001', 'CN=service-*'], groups: ['services'] }] },
    },
  });
  const base = await t.app.http.listen({ host: '127.0.0.1', port: 0 });
  return { t, base };
}

describe('security: client certificates', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = createTestPki({ clients: Object.values(subjects), revoked: [subjects.revoked], untrustedClients: [subjects.allowed] });
  });
  afterAll(() => pki.cleanup());

  describe('client_auth: require', () => {
    let t: TestApp;
    let base: string;
    /** HTTP requests that reached the server past the TLS layer. */
    let seen = 0;
    beforeAll(async () => {
      ({ t, base } = await startTlsApp(pki, { client_auth: 'require' }));
      t.app.http.server.on('request', () => seen++);
    });
    afterAll(async () => t.close());

    const call = (c?: { cert: string; key: string }) => httpsRequest(base, { path: '/api/v1/auth/me', ca: pki.ca, cert: c?.cert, key: c?.key });
    /** The TLS layer drops the connection: no HTTP response, no request seen by the app. */
    const expectHandshakeRefused = async (c?: { cert: string; key: string }) => {
      const before = seen;
      await expect(call(c)).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE|ERR_SSL_)/) });
      expect(seen).toBe(before);
    };

    it('control: an allowed certificate from the CA authenticates', async () => {
      const before = seen;
      const r = await call(pki.client(subjects.allowed));
      expect(r.status).toBe(200);
      expect(seen).toBe(before + 1);
      expect(r.json()).toMatchObject({ id: 'services:CN=client-001', groups: ['services'], auth: { method: 'mtls' } });
    });

    it('a connection without a certificate fails the handshake', async () => {
      await expectHandshakeRefused();
    });

    it('a certificate not issued by the configured CA fails the handshake (same subject as an allowed one)', async () => {
      await expectHandshakeRefused(pki.untrustedClient(subjects.allowed));
    });

    it('a revoked certificate fails the handshake even though its subject is allowed', async () => {
      await expectHandshakeRefused(pki.client(subjects.revoked));
    });

    it('a verified certificate with a disallowed subject gets 401 invalid_token', async () => {
      expectRefused(await call(pki.client(subjects.disallowed)), 'invalid_token');
      // exact match: client-0010 is not client-001
      expectRefused(await call(pki.client(subjects.lookalike)), 'invalid_token');
    });
  });

  describe('client_auth: request', () => {
    let t: TestApp;
    let base: string;
    beforeAll(async () => {
      ({ t, base } = await startTlsApp(pki, { client_auth: 'request' }));
    });
    afterAll(async () => t.close());

    const call = (c?: { cert: string; key: string }) => httpsRequest(base, { path: '/api/v1/auth/me', ca: pki.ca, cert: c?.cert, key: c?.key });

    it('a certificate not issued by the configured CA is refused with 401 invalid_token', async () => {
      expectRefused(await call(pki.untrustedClient(subjects.allowed)), 'invalid_token');
    });

    it('a revoked certificate is refused with 401 invalid_token', async () => {
      const r = await call(pki.client(subjects.revoked));
      expectRefused(r, 'invalid_token');
      expect(r.json().detail).toMatch(/could not be verified/);
    });

    it('a disallowed subject is refused with 401 invalid_token', async () => {
      const r = await call(pki.client(subjects.disallowed));
      expectRefused(r, 'invalid_token');
      expect(r.json().detail).toMatch(/not allowed/);
    });

    it('no certificate at all is 401 unauthenticated', async () => {
      expectRefused(await call(), 'unauthenticated');
    });
  });

  describe('min_version', () => {
    let t: TestApp;
    let base: string;
    beforeAll(async () => {
      ({ t, base } = await startTlsApp(pki, { client_auth: 'request', min_version: 'TLSv1.3' }));
    });
    afterAll(async () => t.close());

    it('TLSv1.3 minimum refuses a TLSv1.2 client and serves a TLSv1.3 one', async () => {
      await expect(httpsRequest(base, { path: '/healthz', ca: pki.ca, maxVersion: 'TLSv1.2' })).rejects.toThrow(/version|protocol|alert/i);
      const ok = await httpsRequest(base, { path: '/healthz', ca: pki.ca, minVersion: 'TLSv1.3' });
      expect(ok.status).toBe(200);
    });
  });
});
