/**
 * `portcullis_oauth_*` counters of the authorization server, on the app's
 * registry. Every label takes a bounded set of values.
 */
import { Counter, type Registry } from 'prom-client';
import { type RevocationReason } from './revocation.js';

/** OAuth error codes that get their own label value; anything else is `other`. */
const OAUTH_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'invalid_target', 'access_denied', 'unsupported_response_type', 'server_error', 'temporarily_unavailable', 'login_required',
  'consent_required', 'interaction_required', 'invalid_redirect_uri', 'invalid_client_metadata', 'invalid_token',
]);
export const errorLabel = (e: unknown): string => (typeof e === 'string' && OAUTH_ERRORS.has(e) ? e : 'other');

export class OAuthMetrics {
  readonly registrations: Counter<'kind'>;
  readonly consents: Counter<'decision'>;
  readonly codesIssued: Counter<never>;
  readonly tokensIssued: Counter<'grant_type'>;
  readonly tokenErrors: Counter<'error'>;
  readonly authorizationErrors: Counter<'error'>;
  readonly reuse: Counter<'kind'>;
  readonly revocations: Counter<'reason'>;
  readonly documentFetches: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.registrations = new Counter({ name: 'portcullis_oauth_registrations_total', help: 'Clients registered (dynamic registration) or first resolved (metadata documents).', labelNames: ['kind'], registers });
    this.consents = new Counter({ name: 'portcullis_oauth_consents_total', help: 'Consent decisions: allow, deny, or remembered (not asked again).', labelNames: ['decision'], registers });
    this.codesIssued = new Counter({ name: 'portcullis_oauth_codes_issued_total', help: 'Authorization codes issued.', registers });
    this.tokensIssued = new Counter({ name: 'portcullis_oauth_tokens_issued_total', help: 'Token responses of the authorization server, by grant type.', labelNames: ['grant_type'], registers });
    this.tokenErrors = new Counter({ name: 'portcullis_oauth_token_errors_total', help: 'Refused token requests of the authorization server, by OAuth error.', labelNames: ['error'], registers });
    this.authorizationErrors = new Counter({ name: 'portcullis_oauth_authorization_errors_total', help: 'Refused authorization requests, by OAuth error.', labelNames: ['error'], registers });
    this.reuse = new Counter({ name: 'portcullis_oauth_reuse_detected_total', help: 'Second uses of an authorization code or refresh token (the grant is revoked).', labelNames: ['kind'], registers });
    this.revocations = new Counter({ name: 'portcullis_oauth_grants_revoked_total', help: 'Grants ended, by reason.', labelNames: ['reason'], registers });
    this.documentFetches = new Counter({ name: 'portcullis_oauth_metadata_document_fetches_total', help: 'Client ID Metadata Document fetches, by outcome.', labelNames: ['outcome'], registers });
    for (const r of ['code_reuse', 'refresh_token_reuse', 'revoked_by_user', 'revoked_by_client', 'client_deleted'] satisfies RevocationReason[]) this.revocations.inc({ reason: r }, 0);
  }
}
