/**
 * When the authorization endpoint must ask the person (SPEC §10/§11):
 *
 * - **login** — unless the browser carries a live gateway session (the
 *   `/login` cookie) for the same account the engine's own session names. The
 *   gateway's session is the one source of truth: signing out, a password
 *   change or disabling the user ends it, and the next authorization request
 *   asks again.
 * - **consent** — unless an unexpired grant of the same user, client and
 *   resource already covers every requested scope (a remembered consent,
 *   `consent_ttl`).
 */
import { type interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { type Store } from '../store/index.js';
import { type EngineModule } from './engine.js';
import { MCP_SCOPES } from './resources.js';

/** Scopes of the request the grant does not cover yet (resource scopes and OIDC ones such as offline_access). */
export function missingScopes(ctx: KoaContextWithOIDC): string[] {
  const { oidc } = ctx;
  const requested = [...oidc.requestParamScopes].filter(Boolean);
  const resource = typeof oidc.params!.resource === 'string' ? oidc.params!.resource : undefined;
  const granted = new Set([
    ...(resource ? (oidc.grant?.getResourceScopeEncountered(resource) ?? '').split(' ') : []),
    ...(oidc.grant?.getOIDCScopeEncountered() ?? '').split(' '),
  ]);
  const known = new Set<string>([...MCP_SCOPES, 'offline_access']);
  return requested.filter((s) => known.has(s) && !granted.has(s));
}

/**
 * @param signedInUser the user id of the gateway browser session the request's cookies carry, or null
 */
export function buildPolicy(engine: EngineModule, signedInUser: (cookieHeader: string | undefined) => Promise<string | null>): interactionPolicy.Prompt[] {
  const { Prompt, Check } = engine.interactionPolicy;
  const login = new Prompt(
    { name: 'login', requestable: true },
    new Check('gateway_session', 'Sign-in is required', async (ctx: KoaContextWithOIDC) => {
      const user = await signedInUser(ctx.get('cookie') || undefined);
      return user === null || user !== ctx.oidc.session!.accountId ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  const consent = new Prompt(
    { name: 'consent', requestable: true },
    new Check('scopes_not_granted', 'The requested access has not been granted', (ctx: KoaContextWithOIDC) =>
      missingScopes(ctx).length ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );
  return [login, consent];
}

/**
 * The grant an authorization request resumes: the one just consented to, or a
 * remembered consent of the same user, client and resource.
 */
export function loadExistingGrant(store: Store) {
  return async (ctx: KoaContextWithOIDC) => {
    const { oidc } = ctx;
    const fromConsent = oidc.result?.consent?.grantId;
    if (typeof fromConsent === 'string') return oidc.provider.Grant.find(fromConsent);
    const account = oidc.session?.accountId;
    const resource = oidc.params?.resource;
    if (!account || typeof resource !== 'string' || !oidc.client) return undefined;
    const id = await store.oauth.grantFor(account, oidc.client.clientId, resource);
    return id ? oidc.provider.Grant.find(id) : undefined;
  };
}
