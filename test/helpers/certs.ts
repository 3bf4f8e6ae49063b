/**
 * A throw-away PKI made with the real openssl 3 binary: a CA, a server
 * certificate for 127.0.0.1/localhost, client certificates for any subjects,
 * a CRL revoking some of them, and a second, untrusted CA with its own client
 * certificates. Everything lives in a temp folder removed by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCert {
  /** openssl -subj form, e.g. `/O=Acme/CN=client-001`. */
  subj: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  serverCertFile: string;
  serverKeyFile: string;
  crlFile: string;
  /** Client certificates issued by the trusted CA, by subj. */
  clients: Map<string, IssuedCert>;
  /** Client certificates issued by the second, untrusted CA, by subj. */
  untrusted: Map<string, IssuedCert>;
  client(subj: string): IssuedCert;
  untrustedClient(subj: string): IssuedCert;
  /** Revoke a trusted client certificate now and rewrite `crlFile` in place. */
  revoke(subj: string): void;
  cleanup(): void;
}

const CA_CNF = `
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./ca.crt
private_key = ./ca.key
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_days = 2
default_crl_days = 2
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = optional
[ client_cert ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ server_cert ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
`;

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

class Ca {
  private n = 0;
  constructor(readonly dir: string, readonly name: string) {
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'ca.cnf'), CA_CNF);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    openssl(dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
      '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  issue(subj: string, kind: 'client_cert' | 'server_cert'): IssuedCert {
    const base = `cert-${++this.n}`;
    openssl(this.dir, [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`,
      '-subj', subj, '-multivalue-rdn', '-utf8',
    ]);
    openssl(this.dir, ['ca', '-batch', '-config', 'ca.cnf', '-preserveDN', '-utf8', '-extensions', kind, '-in', `${base}.csr`, '-out', `${base}.crt`]);
    const certFile = join(this.dir, `${base}.crt`);
    const keyFile = join(this.dir, `${base}.key`);
    return { subj, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  revoke(c: IssuedCert): void {
    openssl(this.dir, ['ca', '-config', 'ca.cnf', '-revoke', c.certFile]);
  }

  crl(): string {
    openssl(this.dir, ['ca', '-config', 'ca.cnf', '-gencrl', '-out', 'crl.pem']);
    return join(this.dir, 'crl.pem');
  }
}

/**
 * Build the PKI. `clients` are openssl `-subj` strings (multi-valued RDNs with
 * `+`); `revoked` must be a subset of `clients`; `untrustedClients` are issued
 * by a CA the server does not trust.
 */
export function createTestPki(opts: { clients: string[]; revoked?: string[]; untrustedClients?: string[] }): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-pki-'));
  const ca = new Ca(join(dir, 'ca'), 'Portcullis Test CA');
  const other = new Ca(join(dir, 'other-ca'), 'Untrusted Test CA');
  const server = ca.issue('/CN=localhost', 'server_cert');
  const clients = new Map(opts.clients.map((s) => [s, ca.issue(s, 'client_cert')]));
  for (const r of opts.revoked ?? []) {
    const c = clients.get(r);
    if (!c) throw new Error(`revoked subject ${r} is not among clients`);
    ca.revoke(c);
  }
  const crlFile = ca.crl();
  const untrusted = new Map((opts.untrustedClients ?? []).map((s) => [s, other.issue(s, 'client_cert')]));
  const pick = (m: Map<string, IssuedCert>, s: string) => {
    const c = m.get(s);
    if (!c) throw new Error(`no test certificate for ${s}`);
    return c;
  };
  return {
    dir,
    caFile: ca.caFile,
    ca: readFileSync(ca.caFile, 'utf8'),
    serverCertFile: server.certFile,
    serverKeyFile: server.keyFile,
    crlFile,
    clients,
    untrusted,
    client: (s) => pick(clients, s),
    untrustedClient: (s) => pick(untrusted, s),
    revoke: (s) => {
      ca.revoke(pick(clients, s));
      ca.crl();
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
