import { type Config } from './load.js';

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Settings that are legal but unsafe outside a developer machine. `serve`
 * prints each one loudly at start; `check-config` lists them too.
 */
export function configWarnings(config: Config): string[] {
  const out: string[] = [];
  const exposed = !isLoopbackHost(config.server.host);
  if (exposed && !config.server.tls && !config.server.public_url.startsWith('https://')) {
    out.push(
      `server.host is ${config.server.host} (reachable from other machines) and TLS is off: passwords and tokens would cross the network in clear text. ` +
        'Configure server.tls, or put a TLS-terminating proxy in front and set server.public_url to its https:// URL.',
    );
  }
  if (exposed && config.auth.registration === 'open') {
    out.push(
      `auth.registration is open on a non-loopback host: anyone who reaches ${config.server.public_url} can create an account, and the first account ever becomes admin. ` +
        'Register your admin first, then set auth.registration to first-user-only or closed.',
    );
  }
  const as = config.auth.authorization_server;
  if (as.enabled && as.client_id_metadata_documents.enabled && as.client_id_metadata_documents.allow_loopback_http) {
    out.push(
      'auth.authorization_server.client_id_metadata_documents.allow_loopback_http is true: client metadata documents are also fetched from http://127.0.0.1 and http://localhost. ' +
        'Use it for development and tests only.',
    );
  }
  if (!config.auth.password_login) {
    out.push('auth.password_login is false and no login providers are configured: nobody can sign in through /login (the OAuth authorization server cannot be used).');
  }
  return out;
}
