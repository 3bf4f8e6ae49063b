import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsOptions, installTlsHooks } from '../src/http/tls.js';
import { ConfigError } from '../src/config/index.js';
import { compileSubjectPattern, formatDn, parseDn, parseNodeSubject } from '../src/lib/distinguished-name.js';
import { MtlsProvider } from '../src/auth/providers/mtls.js';
import { bearer, register, startTestApp, testConfig, type TestApp } from './helpers/app.js';
import { createTestPki, type TestPki } from './helpers/certs.js';
import { httpsRequest } from './helpers/https-client.js';

describe('distinguished names and allowed_subjects patterns', () => {
  const dn = (s: string) => parseDn(s);

  it("parses Node's escaped multi-line subject into RFC 4514 order", () => {
    const node = 'C=US\nO=Acme\\, Inc\nOU=a\nOU=b + CN=multi\nCN=x\\, CN=client-001';
    const parsed = parseNodeSubject(node);
    expect(parsed).toEqual([
      [{ type: 'CN', value: 'x, CN=client-001' }],
      [{ type: 'OU', value: 'b' }, { type: 'CN', value: 'multi' }],
      [{ type: 'OU', value: 'a' }],
      [{ type: 'O', value: 'Acme, Inc' }],
      [{ type: 'C', value: 'US' }],
    ]);
    expect(formatDn(parsed)).toBe('CN=x\\, CN=client-001,CN=multi+OU=b,OU=a,O=Acme\\, Inc,C=US');
  });

  it('renders and re-parses special characters losslessly', () => {
    const tricky = [[{ type: 'CN', value: ' #lead "q" <a>;b\\c+d=e\nf trail ' }], [{ type: 'O', value: 'Grüße' }]];
    const s = formatDn(tricky);
    expect(s).toBe('CN=\\ #lead \\"q\\" \\<a\\>\\;b\\\\c\\+d=e\\0Af trail\\ ,O=Grüße');
    expect(parseDn(s)).toEqual(tricky);
  });

  it('a single-attribute pattern matches that attribute, present exactly once', () => {
    const m = compileSubjectPattern('CN=service-*');
    expect(m(dn('CN=service-alpha,O=Acme'))).toBe(true);
    expect(m(dn('CN=service-,O=Acme'))).toBe(true);
    expect(m(dn('CN=client-001'))).toBe(false);
    expect(m(dn('CN=service-a,CN=service-b'))).toBe(false);
    expect(m(dn('O=service-x'))).toBe(false);
    expect(compileSubjectPattern('cn=client-001')(dn('CN=client-001'))).toBe(true);
    // values compare exactly
    expect(compileSubjectPattern('CN=client-001')(dn('CN=Client-001'))).toBe(false);
  });

  it('a * never reaches across a , + or = of the certificate subject', () => {
    const m = compileSubjectPattern('CN=client-*');
    // a CN whose value *contains* ", O=..." is one value: it matches as a value only
    expect(m(dn('CN=client-x\\, O=Admins'))).toBe(true);
    const full = compileSubjectPattern('CN=*,O=Acme');
    expect(full(dn('CN=a,OU=x,O=Acme'))).toBe(false);
    expect(full(dn('CN=a\\,OU=x,O=Acme'))).toBe(true);
    expect(full(dn('CN=a+OU=x,O=Acme'))).toBe(false);
    // an injected ", CN=client-001" inside another CN is not a CN of its own
    expect(compileSubjectPattern('CN=client-001')(dn('CN=evil\\, CN=client-001'))).toBe(false);
  });

  it('a full-DN pattern matches the whole subject in RFC 4514 order; multi-valued RDNs in any order', () => {
    const m = compileSubjectPattern('CN=svc-*, O=Acme, C=US');
    expect(m(dn('CN=svc-1,O=Acme,C=US'))).toBe(true);
    expect(m(dn('C=US,O=Acme,CN=svc-1'))).toBe(false);
    expect(m(dn('CN=svc-1,O=Acme'))).toBe(false);
    expect(m(dn('CN=svc-1,O=Acme,C=US,DC=x'))).toBe(false);
    const mv = compileSubjectPattern('OU=ops+CN=db-*,O=Acme');
    expect(mv(dn('CN=db-1+OU=ops,O=Acme'))).toBe(true);
    expect(mv(dn('CN=db-1,OU=ops,O=Acme'))).toBe(false);
  });

  it('\\* in a pattern is a literal star; malformed patterns are refused', () => {
    expect(compileSubjectPattern('CN=a\\*')(dn('CN=a*'))).toBe(true);
    expect(compileSubjectPattern('CN=a\\*')(dn('CN=ab'))).toBe(false);
    for (const bad of ['', 'client-001', 'CN=', 'CN=a,', 'C N=a', 'CN=#0403', 'CN="a"', 'CN=a\\'])
      expect(() => compileSubjectPattern(bad), bad).toThrow();
  });
});

describe('mtls configuration', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = createTestPki({ clients: ['/CN=client-001'] });
  });
  afterAll(() => pki.cleanup());

  const tls = () => ({ cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_auth: 'request', client_ca_file: pki.caFile });

  it('an mtls provider needs server.tls with client_auth request or require', () => {
    const provider = { type: 'mtls', name: 'svc', allowed_subjects: ['CN=client-001'] };
    expect(() => testConfig({ auth: { providers: [provider] } })).toThrow(/auth\.providers\[0\]: an mtls provider needs server\.tls/);
    expect(() => testConfig({ server: { tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile } }, auth: { providers: [provider] } })).toThrow(ConfigError);
    expect(testConfig({ server: { tls: tls() }, auth: { providers: [provider] } }).auth.providers).toHaveLength(1);
  });

  it('bad subject patterns and missing files are reported with their path', () => {
    try {
      testConfig({
        server: { tls: { ...tls(), crl_file: '/nonexistent/revoked.crl' } },
        auth: { providers: [{ type: 'mtls', name: 'svc', allowed_subjects: ['CN=ok', 'no-equals-sign'] }] },
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toMatch(/server\.tls\.crl_file: file not found/);
      expect(problems).toMatch(/auth\.providers\[0\]\.allowed_subjects\[1\]:/);
    }
  });

  it('client_ca_file and crl_file without client authentication are refused, not ignored', () => {
    expect(() => testConfig({ server: { tls: { ...tls(), client_auth: 'none' } } })).toThrow(/server\.tls\.client_ca_file: only used with client_auth/);
  });

  it('public_url defaults to https when TLS is on', () => {
    const c = testConfig({ server: { port: 8443, tls: tls() } });
    expect(c.server.public_url).toBe('https://127.0.0.1:8443');
  });

  it('the provider maps a subject to an external principal with the configured role and groups', async () => {
    const p = new MtlsProvider({ type: 'mtls', name: 'svc', allowed_subjects: ['CN=service-*'], role: 'viewer', groups: ['services', 'ops'] });
    const ok = await p.verifyCertificate({ subject: 'CN=service-a,O=Acme', fingerprint256: 'AA' });
    expect(ok).toMatchObject({ type: 'external', id: 'svc:CN=service-a,O=Acme', username: 'service-a', role: 'viewer', groups: ['services', 'ops'], method: 'mtls', provider: 'svc' });
    expect(await p.verifyCertificate({ subject: 'CN=client-001', fingerprint256: 'BB' })).toBeNull();
  });
});

describe('HTTPS listener with client_auth: request', () => {
  let pki: TestPki;
  let t: TestApp;
  let base: string;
  const ids = { allowed: '/O=Acme/CN=client-001', service: '/CN=service-alpha', other: '/CN=intruder', multi: '/O=Acme/OU=ops+CN=db-01' };

  beforeAll(async () => {
    pki = createTestPki({ clients: Object.values(ids) });
    t = await startTestApp({
      config: {
        server: { tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_auth: 'request', client_ca_file: pki.caFile, crl_file: pki.crlFile } },
        auth: {
          providers: [
            { type: 'mtls', name: 'services', allowed_subjects: ['CN=client-001', 'CN=service-*'], role: 'user', groups: ['services'] },
            { type: 'mtls', name: 'databases', allowed_subjects: ['CN=db-*+OU=ops,O=Acme'], role: 'viewer', groups: ['db', 'ops'] },
          ],
        },
      },
    });
    const addr = await t.app.http.listen({ host: '127.0.0.1', port: 0 });
    base = addr;
  });
  afterAll(async () => {
    await t.close();
    pki.cleanup();
  });

  const me = (subj?: string, headers: Record<string, string> = {}) => {
    const c = subj ? pki.client(subj) : undefined;
    return httpsRequest(base, { path: '/api/v1/auth/me', ca: pki.ca, cert: c?.cert, key: c?.key, headers });
  };

  it('serves HTTPS and health without a certificate', async () => {
    expect(base.startsWith('https://')).toBe(true);
    const r = await httpsRequest(base, { path: '/healthz', ca: pki.ca });
    expect(r.status).toBe(200);
  });

  it('an allowed subject authenticates with the mapped role and groups', async () => {
    const r = await me(ids.allowed);
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({
      id: 'services:CN=client-001,O=Acme',
      type: 'external',
      role: 'user',
      groups: ['services'],
      auth: { method: 'mtls', provider: 'services' },
    });
    const s = await me(ids.service);
    expect(s.status).toBe(200);
    expect(s.json().id).toBe('services:CN=service-alpha');
  });

  it('a multi-valued RDN subject matches its full-DN pattern in the second provider', async () => {
    const r = await me(ids.multi);
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ id: 'databases:CN=db-01+OU=ops,O=Acme', role: 'viewer', groups: ['db', 'ops'], auth: { method: 'mtls', provider: 'databases' } });
  });

  it('without a certificate the request needs another credential', async () => {
    const none = await me();
    expect(none.status).toBe(401);
    expect(none.json().code).toBe('unauthenticated');
    const admin = await register(t, 'admin@example.com');
    const withToken = await me(undefined, bearer(admin.token));
    expect(withToken.status).toBe(200);
    expect(withToken.json()).toMatchObject({ id: admin.user.id, auth: { method: 'session' } });
  });

  it('a bearer token alongside a certificate decides the identity', async () => {
    const login = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: 'correct horse battery' } });
    const r = await me(ids.allowed, bearer(login.json().token));
    expect(r.status).toBe(200);
    expect(r.json().auth.method).toBe('session');
  });

  it('headers claiming a client certificate are ignored', async () => {
    const forged = {
      'X-Client-Cert': encodeURIComponent(pki.client(ids.allowed).cert),
      'X-SSL-Client-DN': 'CN=client-001',
      'X-SSL-Client-S-DN': 'CN=client-001',
      'X-SSL-Client-Verify': 'SUCCESS',
      'X-Forwarded-Client-Cert': 'Subject="CN=client-001"',
      'SSL_CLIENT_S_DN': 'CN=client-001',
    };
    const r = await me(undefined, forged);
    expect(r.status).toBe(401);
    expect(r.json().code).toBe('unauthenticated');
    // and over the in-process path, where there is no TLS socket at all
    const inj = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: forged });
    expect(inj.statusCode).toBe(401);
    // with a disallowed certificate, the forged headers do not rescue it either
    const other = await me(ids.other, forged);
    expect(other.status).toBe(401);
    expect(other.json().code).toBe('invalid_token');
  });
});

describe('TLS files are reloaded when they change', () => {
  let pki: TestPki;
  let server: Server;
  let base: string;
  let stop: () => void;
  const errors: unknown[] = [];
  const reloads: unknown[] = [];

  beforeAll(async () => {
    pki = createTestPki({ clients: ['/CN=client-001', '/CN=client-002'] });
    const tls = testConfig({
      server: { tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_auth: 'request', client_ca_file: pki.caFile, crl_file: pki.crlFile } },
    }).server.tls!;
    server = createServer(httpsOptions(tls), (req, res) => res.end(String((req.socket as TLSSocket).authorized)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stop = installTlsHooks(server, tls, { info: (o) => reloads.push(o), error: (o) => errors.push(o) }, 50);
  });
  afterAll(async () => {
    stop();
    await new Promise((r) => server.close(r));
    pki.cleanup();
  });

  const authorized = async (subj: string) => {
    const c = pki.client(subj);
    return (await httpsRequest(base, { path: '/', ca: pki.ca, cert: c.cert, key: c.key })).body;
  };

  it('a certificate revoked after start is refused once the new CRL is written, without a restart', async () => {
    expect(await authorized('/CN=client-001')).toBe('true');
    pki.revoke('/CN=client-001');
    const deadline = Date.now() + 8_000;
    while ((await authorized('/CN=client-001')) === 'true' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await authorized('/CN=client-001')).toBe('false');
    expect(await authorized('/CN=client-002')).toBe('true');
    expect(reloads.length).toBeGreaterThan(0);
  });

  it('client-initiated renegotiation is refused (the certificate of a connection cannot change)', async () => {
    const c = pki.client('/CN=client-002');
    const sock = tlsConnect({ host: '127.0.0.1', port: Number(new URL(base).port), ca: pki.ca, cert: c.cert, key: c.key, servername: 'localhost', maxVersion: 'TLSv1.2' });
    sock.on('error', () => {});
    await once(sock, 'secureConnect');
    sock.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await once(sock, 'data');
    const outcome = await new Promise<string>((resolve) => {
      sock.once('close', () => resolve('closed'));
      const ok = sock.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err ? 'refused' : 'renegotiated'));
      if (!ok) resolve('refused');
    });
    sock.destroy();
    expect(outcome).not.toBe('renegotiated');
  });

  it('a broken replacement is logged and the previous files stay in force', async () => {
    writeFileSync(pki.crlFile, 'not a CRL\n');
    const deadline = Date.now() + 8_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(errors.length).toBeGreaterThan(0);
    expect(await authorized('/CN=client-001')).toBe('false');
    expect(await authorized('/CN=client-002')).toBe('true');
  });
});
