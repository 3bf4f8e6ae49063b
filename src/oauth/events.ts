/**
 * Audit events and metrics from what the engine does (SPEC §7, §10):
 * registrations, codes issued and redeemed, tokens issued, refused token
 * requests, second uses of codes and refresh tokens, revocations. Consents
 * are recorded by the consent page itself. Never a token or secret: only
 * ids (client, grant, user) and OAuth error codes.
 */
import { type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import { type AuditSink } from '../audit/types.js';
import { type Logger } from '../lib/logger.js';
import { sha256B64u } from '../lib/crypto.js';
import { type Store } from '../store/index.js';
import { errorLabel, type OAuthMetrics } from './metrics.js';
import { type GrantRevoker } from './revocation.js';

interface EventDeps {
  store: Store;
  audit: AuditSink;
  metrics: OAuthMetrics;
  logger: Logger;
  revoker: GrantRevoker;
}

const ipOf = (ctx: KoaContextWithOIDC): string | null => ctx.ip || null;
const clientIdOf = (ctx: KoaContextWithOIDC): string | null => ctx.oidc?.client?.clientId ?? (typeof ctx.oidc?.params?.client_id === 'string' ? ctx.oidc.params.client_id.slice(0, 256) : null);

/** A second use of a code or refresh token, as the engine reports it. */
function reuseKind(description: string | undefined): 'code' | 'refresh_token' | null {
  if (!description) return null;
  if (/authorization code (already consumed|already used)/.test(description)) return 'code';
  if (/refresh token (already used|already consumed)/.test(description)) return 'refresh_token';
  return null;
}

export function wireEvents(provider: Provider, d: EventDeps): void {
  provider.on('registration_create.success', (ctx: KoaContextWithOIDC, client) => {
    d.metrics.registrations.inc({ kind: 'dynamic' });
    d.audit.record({
      action: 'oauth.client_registered', actorType: 'anonymous', ip: ipOf(ctx), status: 201,
      detail: { client_id: client.clientId, client_name: client.clientName ?? null, redirect_uris: client.redirectUris, token_endpoint_auth_method: client.clientAuthMethod },
    });
  });

  provider.on('authorization_code.saved', (code) => {
    d.metrics.codesIssued.inc();
    d.audit.record({ action: 'oauth.code_issued', actor: code.accountId ?? null, actorType: 'user', status: 302, detail: { client_id: code.clientId, grant_id: code.grantId, resource: code.resource ?? null, scope: code.scope ?? null } });
  });

  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = String(ctx.oidc.params?.grant_type ?? '');
    const grant = ctx.oidc.entities.Grant;
    const token = ctx.oidc.entities.AccessToken;
    d.metrics.tokensIssued.inc({ grant_type: grantType === 'authorization_code' || grantType === 'refresh_token' ? grantType : 'other' });
    d.audit.record({
      action: grantType === 'authorization_code' ? 'oauth.code_redeemed' : 'oauth.token',
      actor: ctx.oidc.entities.Account?.accountId ?? null, actorType: 'user', ip: ipOf(ctx), status: 200,
      detail: { grant_type: grantType, client_id: clientIdOf(ctx), grant_id: grant?.jti ?? null, resource: token?.aud ?? null, scope: token?.scope ?? null },
    });
    if (grant?.jti) void d.store.oauth.touchGrant(grant.jti).catch((e: unknown) => d.logger.warn({ err: e }, 'could not record the use of an OAuth grant'));
  });

  provider.on('grant.error', (ctx: KoaContextWithOIDC, err) => {
    d.metrics.tokenErrors.inc({ error: errorLabel(err.error) });
    const grantType = String(ctx.oidc.params?.grant_type ?? '').slice(0, 64);
    // The engine's specific reason is in error_detail (error_description is generic).
    const detail = (err as { error_detail?: string }).error_detail ?? err.error_description;
    const kind = reuseKind(detail);
    if (kind) {
      d.metrics.reuse.inc({ kind });
      d.audit.record({ action: 'oauth.reuse_detected', actorType: 'anonymous', ip: ipOf(ctx), status: 400, detail: { kind, client_id: clientIdOf(ctx), grant_type: grantType } });
    } else if (detail === 'client mismatch') void revokePresentedByOtherClient(ctx, d);
    d.audit.record({ action: 'oauth.token', actor: clientIdOf(ctx), actorType: 'anonymous', ip: ipOf(ctx), status: err.statusCode ?? 400, detail: { grant_type: grantType, error: err.error } });
  });

  provider.on('authorization.error', (_ctx: KoaContextWithOIDC, err) => {
    d.metrics.authorizationErrors.inc({ error: errorLabel(err.error) });
  });

  provider.on('server_error', (_ctx: KoaContextWithOIDC, err) => {
    d.logger.error({ err }, 'authorization server error');
  });
}

/**
 * A code or refresh token presented by a client it was not issued to has
 * leaked: its grant is revoked (the request itself already failed).
 */
async function revokePresentedByOtherClient(ctx: KoaContextWithOIDC, d: EventDeps): Promise<void> {
  const params = ctx.oidc.params ?? {};
  const [model, value] =
    params.grant_type === 'refresh_token' ? ['RefreshToken', params.refresh_token] : params.grant_type === 'authorization_code' ? ['AuthorizationCode', params.code] : [null, null];
  if (!model || typeof value !== 'string') return;
  try {
    const row = await d.store.oauth.find(model, sha256B64u(value));
    if (row?.grantId) {
      await d.revoker.revokeGrant(row.grantId, 'foreign_client');
      d.metrics.reuse.inc({ kind: model === 'RefreshToken' ? 'refresh_token' : 'code' });
      d.audit.record({ action: 'oauth.reuse_detected', actorType: 'anonymous', ip: ipOf(ctx), status: 400, detail: { kind: 'foreign_client', client_id: clientIdOf(ctx), grant_type: params.grant_type } });
    }
  } catch (e) {
    d.logger.error({ err: e }, 'could not revoke a grant whose token another client presented');
  }
}
