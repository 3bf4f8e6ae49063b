/**
 * What people and admins see of the authorization server (SPEC §10):
 * everyone lists and ends their own authorizations ("connected apps");
 * admins list and delete clients, which ends every token of the client.
 * Plain values in and out; the HTTP routes and the CLI both call this.
 */
import { auditActor, type Caller } from '../auth/admin.js';
import { type AuditSink } from '../audit/types.js';
import { type Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { type OAuthArtifact, type Store } from '../store/index.js';
import { type GrantRevoker } from './revocation.js';

export interface AuthorizationView {
  id: string;
  client_id: string;
  client_name: string | null;
  resource: string | null;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export type ClientSource = 'config' | 'dynamic' | 'metadata_document';

export interface ClientView {
  client_id: string;
  client_name: string | null;
  source: ClientSource;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  created_at: string | null;
  /** Unexpired authorizations of the client. */
  authorizations: number;
}

const notFound = (what: string) => new GatewayError('not_found', { detail: `No such ${what}` });

function grantScopes(payload: string): { resource: string | null; scopes: string[] } {
  const p = JSON.parse(payload) as { resources?: Record<string, string>; openid?: { scope?: string } };
  const [resource, scope] = Object.entries(p.resources ?? {})[0] ?? [null, ''];
  const scopes = [...(scope ?? '').split(' '), ...(p.openid?.scope ?? '').split(' ')].filter(Boolean);
  return { resource, scopes: [...new Set(scopes)] };
}

export class OAuthManagement {
  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly revoker: GrantRevoker,
    private readonly audit: AuditSink,
  ) {}

  async listAuthorizations(userId: string): Promise<AuthorizationView[]> {
    const grants = await this.store.oauth.grantsOfAccount(userId);
    return grants.map((g) => this.authorizationView(g));
  }

  /** End one of the caller's own authorizations (its tokens and its remembered consent). */
  async deleteAuthorization(c: Caller, id: string): Promise<void> {
    const g = await this.store.oauth.find('Grant', id);
    if (!g || g.accountId !== c.id) throw notFound('authorization');
    await this.revoker.revokeGrant(id, 'revoked_by_user');
    this.audit.record({ action: 'oauth.grant_revoked', ...auditActor(c), status: 204, detail: { grant_id: id, client_id: g.clientId, reason: 'revoked_by_user' } });
  }

  async listClients(): Promise<ClientView[]> {
    const withGrants = new Map((await this.store.oauth.clientsWithGrants()).map((c) => [c.clientId, c]));
    const out: ClientView[] = [];
    for (const c of this.config.auth.authorization_server.clients) {
      out.push({
        client_id: c.client_id, client_name: c.client_name, source: 'config', redirect_uris: [...c.redirect_uris],
        token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none', created_at: null, authorizations: withGrants.get(c.client_id)?.grants ?? 0,
      });
      withGrants.delete(c.client_id);
    }
    for (const row of await this.store.oauth.listModel('Client')) {
      const m = JSON.parse(row.payload) as { client_name?: string; redirect_uris?: string[]; token_endpoint_auth_method?: string };
      out.push({
        client_id: row.key, client_name: m.client_name ?? null, source: 'dynamic', redirect_uris: m.redirect_uris ?? [],
        token_endpoint_auth_method: m.token_endpoint_auth_method ?? 'none', created_at: row.createdAt, authorizations: withGrants.get(row.key)?.grants ?? 0,
      });
      withGrants.delete(row.key);
    }
    // Clients known only by the grants people gave them: metadata-document clients (their document is not stored).
    for (const c of withGrants.values()) {
      out.push({
        client_id: c.clientId, client_name: c.clientName, source: 'metadata_document', redirect_uris: [],
        token_endpoint_auth_method: 'none', created_at: c.firstSeen, authorizations: c.grants,
      });
    }
    return out;
  }

  /**
   * Delete a registered client, or end every authorization of a metadata-document
   * client; either way every token of the client ends. Clients from the config
   * file are read-only (409).
   */
  async deleteClient(c: Caller, clientId: string): Promise<{ revoked: number; source: ClientSource }> {
    if (this.config.auth.authorization_server.clients.some((x) => x.client_id === clientId))
      throw new GatewayError('read_only', { detail: 'This client is defined in the config file; remove it there' });
    const registered = await this.store.oauth.find('Client', clientId);
    const grants = await this.store.oauth.grantIdsOfClient(clientId);
    if (!registered && grants.length === 0) throw notFound('client');
    if (registered) await this.store.oauth.destroy('Client', clientId);
    const revoked = await this.revoker.revokeClient(clientId, 'client_deleted');
    const source: ClientSource = registered ? 'dynamic' : 'metadata_document';
    this.audit.record({ action: 'oauth.client_deleted', ...auditActor(c), status: 204, detail: { client_id: clientId, source, revoked_authorizations: revoked } });
    return { revoked, source };
  }

  private authorizationView(g: OAuthArtifact): AuthorizationView {
    const { resource, scopes } = grantScopes(g.payload);
    return {
      id: g.key, client_id: g.clientId ?? '', client_name: g.clientName, resource: g.resource ?? resource, scopes,
      created_at: g.createdAt, last_used_at: g.lastUsedAt, expires_at: g.expiresAt,
    };
  }
}
