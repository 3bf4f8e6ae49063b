/**
 * oidc-provider's storage adapter on the gateway's store (SQLite or
 * PostgreSQL through kysely; the same code on both).
 *
 * - Token-like ids (codes, refresh tokens, sessions, interactions) are stored
 *   only as SHA-256 digests, and the id is not kept in the payload: a copy of
 *   the database holds no usable token. Grants and clients keep their public ids.
 * - A registered client's secret is stored as its SHA-256 digest; the token
 *   endpoint hashes the presented secret the same way before the engine
 *   compares them (http/routes/oauth-provider.ts).
 * - `consume` is atomic: of two concurrent redemptions of one code or refresh
 *   token exactly one wins; the other revokes the grant and fails.
 * - Destroying a grant revokes it on every replica (revocation.ts).
 * - A `client_id` that is a URL is resolved as a Client ID Metadata Document.
 */
import { type Adapter, type AdapterPayload } from 'oidc-provider';
import { sha256B64u, sha256Hex } from '../lib/crypto.js';
import { now } from '../lib/time.js';
import { type Store } from '../store/index.js';
import { CimdError, ClientMetadataDocuments } from './cimd.js';
import { type EngineModule } from './engine.js';
import { type GrantRevoker, type RevocationReason } from './revocation.js';

/** Models whose ids are public (stored as they are). */
const PUBLIC_ID_MODELS = new Set(['Grant', 'Client']);

/** The digest a registered client's secret is stored as, and presented secrets are turned into. */
export const hashClientSecret = (secret: string): string => `sha256:${sha256Hex(secret)}`;

export interface AdapterDeps {
  /** oidc-provider (engine.ts): its error classes and request context. */
  engine: EngineModule;
  store: Store;
  revoker: GrantRevoker;
  /** Client ID Metadata Documents (null: disabled). */
  documents: ClientMetadataDocuments | null;
  /** A code or refresh token was redeemed twice at the same moment (audit). */
  onConcurrentReuse?: (model: string, grantId: string | undefined) => void;
}

/** Why the engine ends a grant, from the request it is serving. */
function engineReason(engine: EngineModule): RevocationReason {
  const ctx = engine.Provider.ctx;
  if (ctx?.oidc?.route === 'revocation') return 'revoked_by_client';
  if (ctx?.oidc?.route === 'token') return ctx.oidc.params?.grant_type === 'refresh_token' ? 'refresh_token_reuse' : 'code_reuse';
  return 'engine';
}

const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function adapterFactory(deps: AdapterDeps): (model: string) => Adapter {
  return (model: string) => new StoreAdapter(model, deps);
}

class StoreAdapter implements Adapter {
  private readonly publicIds: boolean;

  constructor(
    private readonly model: string,
    private readonly deps: AdapterDeps,
  ) {
    this.publicIds = PUBLIC_ID_MODELS.has(model);
  }

  private key(id: string): string {
    return this.publicIds ? id : sha256B64u(id);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const stored: Record<string, unknown> = { ...payload };
    if (!this.publicIds) delete stored.jti;
    // An interaction names the engine's session by its cookie value; nothing reads it back, so it is not kept.
    if (this.model === 'Interaction' && stored.session && typeof stored.session === 'object') stored.session = { ...(stored.session as object), cookie: undefined };
    if (this.model === 'Client' && typeof stored.client_secret === 'string' && !stored.client_secret.startsWith('sha256:'))
      stored.client_secret = hashClientSecret(stored.client_secret);
    const resources = this.model === 'Grant' && payload.resources ? Object.keys(payload.resources as object) : [];
    await this.deps.store.oauth.upsert(this.model, this.key(id), JSON.stringify(stored), {
      grantId: payload.grantId ?? null,
      accountId: payload.accountId ?? null,
      clientId: this.model === 'Client' ? id : (payload.clientId ?? null),
      uid: payload.uid ?? null,
      resource: resources.length === 1 ? resources[0] : null,
      clientName: this.model === 'Client' && typeof payload.client_name === 'string' ? payload.client_name : null,
      expiresAt: typeof expiresIn === 'number' ? new Date(now() + expiresIn * 1000).toISOString() : null,
    });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = await this.deps.store.oauth.find(this.model, this.key(id));
    if (row) return this.payloadOf(row.payload, id, row.consumedAt);
    if (this.model === 'Client' && this.deps.documents && ClientMetadataDocuments.looksLikeUrl(id)) {
      try {
        return (await this.deps.documents.resolve(id)) as AdapterPayload;
      } catch (e) {
        if (e instanceof CimdError) throw new this.deps.engine.errors.InvalidClient(e.message);
        throw e;
      }
    }
    return undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const row = await this.deps.store.oauth.findByUid(this.model, uid);
    return row ? this.payloadOf(row.payload, undefined, row.consumedAt) : undefined;
  }

  /** Device flow is off: there are no user codes. */
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(id: string): Promise<void> {
    if (await this.deps.store.oauth.consume(this.model, this.key(id))) return;
    // Lost a race with a concurrent redemption: the same as a second use.
    const row = await this.deps.store.oauth.find(this.model, this.key(id));
    const grantId = row?.grantId ?? undefined;
    this.deps.onConcurrentReuse?.(this.model, grantId);
    if (grantId) await this.deps.revoker.revokeGrant(grantId, this.model === 'RefreshToken' ? 'refresh_token_reuse' : 'code_reuse');
    throw new this.deps.engine.errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
  }

  async destroy(id: string): Promise<void> {
    if (this.model === 'Grant') await this.deps.revoker.revokeGrant(id, engineReason(this.deps.engine));
    else await this.deps.store.oauth.destroy(this.model, this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.deps.store.oauth.destroyByGrant(this.model, grantId);
  }

  private payloadOf(json: string, id: string | undefined, consumedAt: string | null): AdapterPayload {
    const p = JSON.parse(json) as AdapterPayload;
    if (!this.publicIds && id !== undefined) p.jti = id;
    if (consumedAt) p.consumed = epoch(consumedAt);
    return p;
  }
}
