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
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { type ServerOptions } from 'node:https';
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
}

/**
 * Poll the TLS files and swap in a new secure context when one changes
 * (a renewed certificate, a refreshed CRL). A broken update is logged and
 * the previous context stays in force. Returns a stop function.
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
