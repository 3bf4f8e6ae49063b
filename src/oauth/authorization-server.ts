/**
 * The authorization server as one unit: its engine (provider.ts), the
 * metadata-document resolver, grant revocation, management, audit and
 * metrics, and housekeeping of expired artifacts. Built once per app.
 */
import { type Provider } from 'oidc-provider';
import { type Registry } from 'prom-client';
import { type OAuthAccessTokens } from '../auth/oauth-access-tokens.js';
import { type AuditSink } from '../audit/types.js';
import { type Config } from '../config/index.js';
import { type Bus } from '../lib/bus.js';
import { type Logger } from '../lib/logger.js';
import { type Store } from '../store/index.js';
import { ClientMetadataDocuments } from './cimd.js';
import { loadEngine, type EngineModule } from './engine.js';
import { wireEvents } from './events.js';
import { type AuthorizationServerKeys } from './keys.js';
import { OAuthManagement } from './management.js';
import { OAuthMetrics } from './metrics.js';
import { createProvider } from './provider.js';
import { GrantRevoker } from './revocation.js';

const HOUSEKEEPING_MS = 10 * 60_000;

export interface AuthorizationServerDeps {
  config: Config;
  store: Store;
  bus: Bus;
  logger: Logger;
  audit: AuditSink;
  registry: Registry;
  keys: AuthorizationServerKeys;
  accessTokens: OAuthAccessTokens;
  isServer: (name: string) => boolean;
  signedInUser: (cookieHeader: string | undefined) => Promise<string | null>;
  renderErrorPage: (error: { error: string; error_description?: string }) => { html: string; headers: Record<string, string> };
}

export class AuthorizationServer {
  readonly provider: Provider;
  readonly revoker: GrantRevoker;
  readonly management: OAuthManagement;
  readonly metrics: OAuthMetrics;
  readonly documents: ClientMetadataDocuments | null;
  private readonly timer: NodeJS.Timeout;

  /** Load the engine (oidc-provider) and build the server. */
  static async create(d: AuthorizationServerDeps): Promise<AuthorizationServer> {
    return new AuthorizationServer(d, await loadEngine(d.logger));
  }

  private constructor(
    private readonly d: AuthorizationServerDeps,
    engine: EngineModule,
  ) {
    const { config, store, audit } = d;
    const as = config.auth.authorization_server;
    this.metrics = new OAuthMetrics(d.registry);
    this.revoker = new GrantRevoker(store, d.bus, d.accessTokens.revoked, (grantId, reason) => {
      this.metrics.revocations.inc({ reason });
      // Revocations a person asked for are audited by the management service, with that person as actor.
      if (reason !== 'revoked_by_user' && reason !== 'client_deleted') audit.record({ action: 'oauth.grant_revoked', actorType: 'system', status: 200, detail: { grant_id: grantId, reason } });
    });
    this.documents = as.client_id_metadata_documents.enabled
      ? new ClientMetadataDocuments(
          { allowedHosts: as.client_id_metadata_documents.allowed_hosts, allowLoopbackHttp: as.client_id_metadata_documents.allow_loopback_http },
          d.logger,
          (outcome) => this.metrics.documentFetches.inc({ outcome }),
        )
      : null;
    this.provider = createProvider({
      engine, config, store, keys: d.keys, accessTokens: d.accessTokens, isServer: d.isServer, signedInUser: d.signedInUser, renderErrorPage: d.renderErrorPage,
      revoker: this.revoker, documents: this.documents,
      onConcurrentReuse: (model) => this.metrics.reuse.inc({ kind: model === 'RefreshToken' ? 'refresh_token' : 'code' }),
    });
    wireEvents(this.provider, { store, audit, metrics: this.metrics, logger: d.logger, revoker: this.revoker });
    this.management = new OAuthManagement(store, config, this.revoker, audit);
    this.timer = setInterval(() => void this.housekeeping(), HOUSEKEEPING_MS);
    this.timer.unref();
  }

  /** Delete expired artifacts and revocations older than any access token they could still stop. */
  async housekeeping(): Promise<void> {
    try {
      const keep = this.d.config.auth.access_token_ttl + 3_600_000;
      await this.d.store.oauth.purge(new Date(Date.now() - keep).toISOString());
    } catch (e) {
      this.d.logger.warn({ err: e }, 'authorization server housekeeping failed');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.documents?.close();
  }
}
