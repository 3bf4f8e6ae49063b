/**
 * Principal ids. Each kind of principal has a namespace of its own, so an id
 * of one kind never equals an id of another, whatever providers, subjects or
 * service-account names are configured:
 *
 * - user: the user's UUID (never contains a colon);
 * - service account: `sa:<client_id>`;
 * - external identity: `<provider>:<subject>`, where the provider name is
 *   `[a-z0-9-]+` (so the text before the first colon is the provider) and is
 *   never one of RESERVED_PROVIDER_NAMES (the config loader refuses them).
 *
 * The audit's actor for a failed login to an unknown account,
 * `unknown:<keyed hash>`, lives beside them (auth/login-actor.ts).
 *
 * Every place that builds a principal id uses these builders; sessions,
 * rate-limit keys, audit actors and per-user upstream credentials then key on
 * the id as built.
 */
export const SERVICE_ACCOUNT_ID_PREFIX = 'sa:';
export const UNKNOWN_LOGIN_ACTOR_PREFIX = 'unknown:';

/**
 * Names no external provider may take: each is the prefix (before the colon)
 * of ids of another kind. A new kind of id with a `<word>:` prefix adds its
 * word here.
 */
export const RESERVED_PROVIDER_NAMES: readonly string[] = [SERVICE_ACCOUNT_ID_PREFIX.slice(0, -1), UNKNOWN_LOGIN_ACTOR_PREFIX.slice(0, -1)];

export const serviceAccountPrincipalId = (clientId: string): string => SERVICE_ACCOUNT_ID_PREFIX + clientId;

/** `<provider>:<subject>`; a reserved provider name is a programming error (the config loader refuses it). */
export function externalPrincipalId(provider: string, subject: string): string {
  if (RESERVED_PROVIDER_NAMES.includes(provider)) throw new Error(`provider name ${provider} is reserved`);
  return `${provider}:${subject}`;
}

/** The client_id in a service account's principal id; undefined for an id of another kind. */
export const clientIdOfPrincipalId = (id: string): string | undefined =>
  id.startsWith(SERVICE_ACCOUNT_ID_PREFIX) ? id.slice(SERVICE_ACCOUNT_ID_PREFIX.length) : undefined;
