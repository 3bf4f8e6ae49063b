/**
 * The HTTPS listener's options from `server.tls` (SPEC §9), and a watcher that
 * reloads certificates, CA bundle and CRL when their files change, without a
 * restart and without dropping connections (`server.setSecureContext`).
 *
 * client_auth:
 *   none     no client certificate is asked for.
 *   request  a certificate is asked for; a connection without one, or with
 *            one that fails verification, still proceeds (other credentials
 *            apply), but only a verified certificate can authenticate.
 *   require  the handshake fails unless the client presents a certificate
 *            that verifies against client_ca_file (and is not in crl_file).
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { type ServerOptions } from 'node:https';
import { type CredentialInput } from '../auth/authenticate.js';
import { certificateSubject } from '../auth/providers/mtls.js';
import { ConfigError, type Config } from '../config/index.js';

export type TlsConfig = NonNullable<Config['server']['tls']>;

function read(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError([`server.tls.${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
}

/** Key material and verification settings (what `setSecureContext` takes). */
export function secureContextOptions(tls: TlsConfig): SecureContextOptions {
  const opts: SecureContextOptions = {
    cert: read(tls.cert_file, 'cert_file'),
    key: read(tls.key_file, 'key_file'),
    minVersion: tls.min_version,
  };
  if (tls.client_auth !== 'none') {
    opts.ca = read(tls.client_ca_file!, 'client_ca_file');
    if (tls.crl_file) opts.crl = read(tls.crl_file, 'crl_file');
  }
  // Fail at start with a clear message rather than at the first handshake.
  try {
    createSecureContext(opts);
  } catch (e) {
    throw new ConfigError([`server.tls: the certificate, key, CA or CRL files are not usable: ${(e as Error).message}`]);
  }
  return opts;
}

/** Options for `https.createServer` (fastify's `https`). */
export function httpsOptions(tls: TlsConfig): ServerOptions {
  const requestCert = tls.client_auth !== 'none';
  return {
    ...secureContextOptions(tls),
    requestCert,
    // Only `require` refuses the handshake; `request` lets the request through
    // unauthenticated-by-certificate (socket.authorized stays false).
    rejectUnauthorized: tls.client_auth === 'require',
  };
}

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
  /** http(s).Server: ends keep-alive connections that carry no request right now. */
  closeIdleConnections?(): void;
}

export interface TlsServer extends SecureContextTarget {
  on(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown;
  off(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown;
}

/**
 * Everything the HTTPS listener needs beyond its options:
 * - client-initiated renegotiation is refused (a DoS vector, and it could swap
 *   the client certificate under a connection whose identity is cached);
 * - the TLS files are watched and reloaded (watchTlsFiles).
 * Returns a stop function.
 */
export function installTlsHooks(server: TlsServer, tls: TlsConfig, log: Parameters<typeof watchTlsFiles>[2], intervalMs?: number): () => void {
  const noRenegotiation = (socket: TLSSocket) => socket.disableRenegotiation();
  server.on('secureConnection', noRenegotiation);
  const stopWatching = watchTlsFiles(server, tls, log, intervalMs);
  return () => {
    server.off('secureConnection', noRenegotiation);
    stopWatching();
  };
}

/**
 * Poll the TLS files and swap in a new secure context when one changes
 * (a renewed certificate, a refreshed CRL). A broken update is logged and
 * the previous context stays in force. New handshakes use the new files;
 * idle keep-alive connections are closed so their clients reconnect (and are
 * verified again, e.g. against a new CRL); connections busy with a request or
 * a stream keep their handshake's verdict until they end. Returns a stop function.
 */
export function watchTlsFiles(
  server: SecureContextTarget,
  tls: TlsConfig,
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void },
  intervalMs = 10_000,
): () => void {
  const files = [tls.cert_file, tls.key_file, ...(tls.client_auth !== 'none' ? [tls.client_ca_file!, tls.crl_file].filter((f): f is string => !!f) : [])];
  let pending: NodeJS.Timeout | null = null;
  const reload = () => {
    pending = null;
    try {
      server.setSecureContext(secureContextOptions(tls));
      server.closeIdleConnections?.();
      log.info({ files }, 'TLS files reloaded');
    } catch (e) {
      log.error({ err: e instanceof ConfigError ? e.problems : String(e) }, 'TLS files changed but could not be loaded; keeping the previous ones');
    }
  };
  const listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    // Files are often replaced one after another (cert, then key): settle first.
    if (pending) clearTimeout(pending);
    pending = setTimeout(reload, 500);
    pending.unref();
  };
  for (const f of files) watchFile(f, { interval: intervalMs, persistent: false }, listener);
  return () => {
    if (pending) clearTimeout(pending);
    for (const f of files) unwatchFile(f, listener);
  };
}

export interface PeerCertificateState {
  peerCertificate: CredentialInput['peerCertificate'];
  peerCertificateRejected: boolean;
}

const NO_CERTIFICATE: PeerCertificateState = Object.freeze({ peerCertificate: null, peerCertificateRejected: false });
const perSocket = new WeakMap<object, PeerCertificateState>();

/**
 * The client certificate of a connection, as the TLS handshake judged it: a
 * certificate identity exists only when the socket is `authorized` (chain to
 * client_ca_file, not revoked, not expired); a presented certificate that
 * failed is `peerCertificateRejected`. Computed once per connection (the
 * certificate cannot change: renegotiation is refused, see installTlsHooks).
 */
export function peerCertificateOf(socket: object): PeerCertificateState {
  const s = socket as { authorized?: boolean; getPeerCertificate?: () => { fingerprint256?: string; raw?: Buffer } };
  if (typeof s.getPeerCertificate !== 'function') return NO_CERTIFICATE;
  const hit = perSocket.get(socket);
  if (hit) return hit;
  let state = NO_CERTIFICATE;
  const c = s.getPeerCertificate();
  if (c?.raw && c.fingerprint256) {
    // RFC 4514 subject from the DER certificate (escaped, multi-valued RDNs kept).
    const subject = s.authorized === true ? certificateSubject(c.raw, c.fingerprint256) : null;
    state = subject
      ? { peerCertificate: { subject, fingerprint256: c.fingerprint256, raw: c.raw }, peerCertificateRejected: false }
      : { peerCertificate: null, peerCertificateRejected: true };
  }
  perSocket.set(socket, state);
  return state;
}
