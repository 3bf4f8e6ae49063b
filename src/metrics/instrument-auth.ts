/**
 * Authentication metrics. Wraps one Authenticator instance so every caller
 * (management API middleware, MCP route, OAuth endpoints) is measured the same
 * way: duration of every attempt, success by method, failure by the credential
 * kind presented and the error code.
 */
import { performance } from 'node:perf_hooks';
import { API_TOKEN_PREFIX } from '../auth/api-token-format.js';
import { type Authenticator, type CredentialInput } from '../auth/authenticate.js';
import { type Principal } from '../auth/principal.js';
import { GatewayError } from '../errors/index.js';
import { type AUTH_FAILURE_METHODS, type Metrics } from './metrics.js';

/** The credential kind a failed attempt presented (bounded label). */
export function presentedMethod(input: CredentialInput): (typeof AUTH_FAILURE_METHODS)[number] {
  const authz = input.authorization[0];
  let token: string | undefined;
  if (authz !== undefined) {
    const sp = authz.indexOf(' ');
    token = sp === -1 ? '' : authz.slice(sp + 1).trim();
  } else if (input.apiKey !== undefined) token = input.apiKey.trim();
  if (token === undefined) return input.peerCertificate ? 'mtls' : 'none';
  if (token.startsWith(API_TOKEN_PREFIX)) return 'api_token';
  const a = token.indexOf('.');
  if (a > 0 && token.indexOf('.', a + 1) > a) return 'jwt';
  return 'bearer';
}

const INSTRUMENTED = Symbol('portcullis.metrics.instrumented');

export function instrumentAuthenticator(auth: Authenticator, metrics: Metrics): void {
  const target = auth as Authenticator & { [INSTRUMENTED]?: true };
  if (target[INSTRUMENTED]) return;
  target[INSTRUMENTED] = true;
  const inner = auth.authenticate.bind(auth);
  const ok = (p: Principal, t0: number): Principal => {
    metrics.observeAuth((performance.now() - t0) / 1000, p.method);
    return p;
  };
  const failed = (input: CredentialInput, t0: number, e: unknown): never => {
    metrics.observeAuth((performance.now() - t0) / 1000, null);
    metrics.authFailure.inc({ method: presentedMethod(input), reason: e instanceof GatewayError ? e.code : 'internal_error' });
    throw e;
  };
  auth.authenticate = async (input: CredentialInput) => {
    const t0 = performance.now();
    let p: Principal;
    try {
      p = await inner(input);
    } catch (e) {
      return failed(input, t0, e);
    }
    return ok(p, t0);
  };
}
