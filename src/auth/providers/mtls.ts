/**
 * `mtls` providers: a TLS client certificate, already verified by the TLS
 * layer against `server.tls.client_ca_file` (and `crl_file`), becomes an
 * external principal when its subject matches one of `allowed_subjects`.
 *
 * The identity comes only from the verified certificate the HTTP layer hands
 * over (`CredentialInput.peerCertificate`, filled only when the socket is
 * `authorized`); no request header is ever consulted.
 */
import { X509Certificate } from 'node:crypto';
import { type MtlsProviderDef } from '../../config/schema.js';
import { compileSubjectPattern, DnSyntaxError, formatDn, parseDn, parseNodeSubject, type Dn } from '../../lib/distinguished-name.js';
import { LruCache } from '../../lib/lru.js';
import { type CredentialInput, type ExternalVerifier } from '../authenticate.js';
import { externalPrincipal, type Principal } from '../principal.js';

export type PeerCertificate = NonNullable<CredentialInput['peerCertificate']>;

const subjectCache = new LruCache<string, string | null>(10_000);

/**
 * The RFC 4514 subject (`CN=client-001,O=Acme,C=US`) of a DER certificate,
 * computed from the certificate itself (OpenSSL's escaped rendering, parsed
 * back into structure), cached by SHA-256 fingerprint. Null when the subject
 * cannot be represented unambiguously (e.g. hex-dumped values).
 */
export function certificateSubject(raw: Buffer, fingerprint256: string): string | null {
  const hit = subjectCache.get(fingerprint256);
  if (hit !== undefined) return hit;
  let out: string | null;
  try {
    out = formatDn(parseNodeSubject(new X509Certificate(raw).subject));
  } catch {
    out = null;
  }
  subjectCache.set(fingerprint256, out);
  return out;
}

const commonName = (dn: Dn): string | null => {
  const cns = dn.flatMap((rdn) => rdn.filter((a) => a.type === 'CN'));
  return cns.length === 1 ? cns[0].value : null;
};

export class MtlsProvider implements ExternalVerifier {
  readonly name: string;
  private readonly matchers: ((dn: Dn) => boolean)[];

  constructor(private readonly def: MtlsProviderDef) {
    this.name = def.name;
    this.matchers = def.allowed_subjects.map((p, i) => {
      try {
        return compileSubjectPattern(p);
      } catch (e) {
        const why = e instanceof DnSyntaxError ? e.message : String(e);
        throw new Error(`auth.providers (mtls ${def.name}).allowed_subjects[${i}]: ${why}`);
      }
    });
  }

  /** The principal for an allowed subject; null when no pattern matches (the Authenticator then refuses with 401). */
  async verifyCertificate(cert: PeerCertificate): Promise<Principal | null> {
    let dn: Dn;
    try {
      dn = parseDn(cert.subject);
    } catch {
      return null;
    }
    if (dn.length === 0 || !this.matchers.some((m) => m(dn))) return null;
    const subject = formatDn(dn);
    return externalPrincipal({
      provider: this.name,
      subject,
      method: 'mtls',
      username: commonName(dn) ?? subject,
      role: this.def.role,
      groups: [...new Set(this.def.groups)],
    });
  }
}
