/**
 * Builds the external credential verifiers from `auth.providers`.
 *
 * Order of consultation for a bearer token (the Authenticator tries its own
 * credentials first):
 *   1. `pcl_` API tokens            (Authenticator)
 *   2. our own access JWTs          (Authenticator, by `iss`)
 *   3. jwt providers                (by exact `iss` match, then `aud`)
 *   4. static tokens                (constant-time digest comparison)
 *   5. introspection providers      (RFC 7662, in config order)
 * A verifier returns null for a token that is not its own and throws 401 for
 * one that is and fails; the first principal wins.
 */
import { type ProviderDef, type IntrospectionProviderDef, type JwtProviderDef, type MtlsProviderDef, type StaticProviderDef } from '../../config/schema.js';
import { type ExternalVerifier } from '../authenticate.js';
import { IntrospectionProvider, IntrospectionProviders } from './introspection.js';
import { JwtProvider, JwtProviders, type JwtProviderOptions } from './jwt.js';
import { StaticTokens } from './static.js';
import { MtlsProvider } from './mtls.js';

export { JwtProvider, JwtProviders } from './jwt.js';
export { IntrospectionProvider, IntrospectionProviders } from './introspection.js';
export { StaticTokens } from './static.js';
export { MtlsProvider, certificateSubject } from './mtls.js';
export { readClaim, mapRole, mapGroups, mapScopes } from './claims.js';

export interface ExternalVerifiers {
  /** In consultation order. */
  verifiers: ExternalVerifier[];
  jwt: JwtProviders | null;
  close(): Promise<void>;
}

export async function buildExternalVerifiers(providers: readonly ProviderDef[], opts: JwtProviderOptions = {}): Promise<ExternalVerifiers> {
  const jwtDefs = providers.filter((p): p is JwtProviderDef => p.type === 'jwt');
  const staticDefs = providers.filter((p): p is StaticProviderDef => p.type === 'static');
  const introDefs = providers.filter((p): p is IntrospectionProviderDef => p.type === 'introspection');
  const mtlsDefs = providers.filter((p): p is MtlsProviderDef => p.type === 'mtls');

  const verifiers: ExternalVerifier[] = [];
  const closers: (() => Promise<void>)[] = [];

  const jwt = jwtDefs.length ? new JwtProviders(await Promise.all(jwtDefs.map((d) => JwtProvider.create(d, opts)))) : null;
  if (jwt) verifiers.push(jwt);
  if (staticDefs.length) verifiers.push(new StaticTokens(staticDefs));
  if (introDefs.length) {
    const intro = new IntrospectionProviders(introDefs.map((d) => new IntrospectionProvider(d)));
    verifiers.push(intro);
    closers.push(() => intro.close());
  }
  // Client certificates (consulted only for a verified certificate, never for a bearer token).
  for (const d of mtlsDefs) verifiers.push(new MtlsProvider(d));

  return {
    verifiers,
    jwt,
    async close() {
      for (const c of closers) await c();
    },
  };
}
