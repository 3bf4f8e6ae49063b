import { nowIso } from '../lib/time.js';
import { type Db } from './db.js';
import { type OAuthArtifactsTable } from './schema.js';

/** One artifact of the authorization server (grant, code, refresh token, client, ...). */
export interface OAuthArtifact {
  model: string;
  key: string;
  /** The engine's payload, as JSON text. */
  payload: string;
  grantId: string | null;
  accountId: string | null;
  clientId: string | null;
  uid: string | null;
  resource: string | null;
  clientName: string | null;
  expiresAt: string | null;
  consumedAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

/** What upsert writes beside the payload (the columns queries use). */
export interface ArtifactColumns {
  grantId?: string | null;
  accountId?: string | null;
  clientId?: string | null;
  uid?: string | null;
  resource?: string | null;
  clientName?: string | null;
  expiresAt: string | null;
}

const toArtifact = (r: OAuthArtifactsTable): OAuthArtifact => ({
  model: r.model,
  key: r.key,
  payload: r.payload,
  grantId: r.grant_id,
  accountId: r.account_id,
  clientId: r.client_id,
  uid: r.uid,
  resource: r.resource,
  clientName: r.client_name,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});

/**
 * Storage of the OAuth 2.1 authorization server (SPEC §10): the artifacts the
 * engine persists through its adapter, and the set of revoked grants every
 * replica keeps in memory. Plain values in and out.
 */
export class OAuthStore {
  constructor(private readonly db: Db) {}

  /** Insert or replace one artifact. A grant keeps its creation time, last use and client name. */
  async upsert(model: string, key: string, payload: string, c: ArtifactColumns): Promise<void> {
    const ts = nowIso();
    const row: OAuthArtifactsTable = {
      model, key, payload,
      grant_id: c.grantId ?? null,
      account_id: c.accountId ?? null,
      client_id: c.clientId ?? null,
      uid: c.uid ?? null,
      resource: c.resource ?? null,
      client_name: c.clientName ?? null,
      expires_at: c.expiresAt,
      consumed_at: null,
      created_at: ts,
      last_used_at: null,
    };
    await this.db.kysely
      .insertInto('oauth_artifacts')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['model', 'key']).doUpdateSet((eb) => ({
          payload: eb.ref('excluded.payload'),
          grant_id: eb.ref('excluded.grant_id'),
          account_id: eb.ref('excluded.account_id'),
          client_id: eb.ref('excluded.client_id'),
          uid: eb.ref('excluded.uid'),
          resource: eb.fn.coalesce('excluded.resource', 'oauth_artifacts.resource'),
          client_name: eb.fn.coalesce('excluded.client_name', 'oauth_artifacts.client_name'),
          expires_at: eb.ref('excluded.expires_at'),
        })),
      )
      .execute();
  }

  async find(model: string, key: string): Promise<OAuthArtifact | undefined> {
    const r = await this.db.kysely.selectFrom('oauth_artifacts').selectAll().where('model', '=', model).where('key', '=', key).executeTakeFirst();
    return r ? toArtifact(r) : undefined;
  }

  async findByUid(model: string, uid: string): Promise<OAuthArtifact | undefined> {
    const r = await this.db.kysely.selectFrom('oauth_artifacts').selectAll().where('model', '=', model).where('uid', '=', uid).executeTakeFirst();
    return r ? toArtifact(r) : undefined;
  }

  /** Mark consumed; false when it was consumed already (or is gone): exactly one caller wins. */
  async consume(model: string, key: string): Promise<boolean> {
    const r = await this.db.kysely
      .updateTable('oauth_artifacts')
      .set({ consumed_at: nowIso() })
      .where('model', '=', model)
      .where('key', '=', key)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async destroy(model: string, key: string): Promise<void> {
    await this.db.kysely.deleteFrom('oauth_artifacts').where('model', '=', model).where('key', '=', key).execute();
  }

  /** Delete every artifact of one model issued under a grant. */
  async destroyByGrant(model: string, grantId: string): Promise<void> {
    await this.db.kysely.deleteFrom('oauth_artifacts').where('model', '=', model).where('grant_id', '=', grantId).execute();
  }

  /** Delete a grant and everything issued under it; true when the grant existed. */
  async destroyGrant(grantId: string): Promise<boolean> {
    return this.db.kysely.transaction().execute(async (trx) => {
      await trx.deleteFrom('oauth_artifacts').where('grant_id', '=', grantId).execute();
      const r = await trx.deleteFrom('oauth_artifacts').where('model', '=', 'Grant').where('key', '=', grantId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** Unexpired grants of a user, newest first. */
  async grantsOfAccount(accountId: string): Promise<OAuthArtifact[]> {
    const rows = await this.db.kysely
      .selectFrom('oauth_artifacts')
      .selectAll()
      .where('model', '=', 'Grant')
      .where('account_id', '=', accountId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', nowIso())]))
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map(toArtifact);
  }

  /** Ids of every grant of a client (expired or not). */
  async grantIdsOfClient(clientId: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('oauth_artifacts').select('key').where('model', '=', 'Grant').where('client_id', '=', clientId).execute();
    return rows.map((r) => r.key);
  }

  /** Ids of every grant of a user. */
  async grantIdsOfAccount(accountId: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('oauth_artifacts').select('key').where('model', '=', 'Grant').where('account_id', '=', accountId).execute();
    return rows.map((r) => r.key);
  }

  /** The newest unexpired grant of (user, client, resource): a remembered consent. */
  async grantFor(accountId: string, clientId: string, resource: string): Promise<string | undefined> {
    const r = await this.db.kysely
      .selectFrom('oauth_artifacts')
      .select('key')
      .where('model', '=', 'Grant')
      .where('account_id', '=', accountId)
      .where('client_id', '=', clientId)
      .where('resource', '=', resource)
      .where('expires_at', '>', nowIso())
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    return r?.key;
  }

  /** Remember the client's name as the user saw it at consent (listing, audit). */
  async nameGrantClient(grantId: string, clientName: string): Promise<void> {
    await this.db.kysely.updateTable('oauth_artifacts').set({ client_name: clientName }).where('model', '=', 'Grant').where('key', '=', grantId).execute();
  }

  /** Record that a token was issued under the grant. */
  async touchGrant(grantId: string): Promise<void> {
    await this.db.kysely.updateTable('oauth_artifacts').set({ last_used_at: nowIso() }).where('model', '=', 'Grant').where('key', '=', grantId).execute();
  }

  /** Every artifact of one model (registered clients). */
  async listModel(model: string): Promise<OAuthArtifact[]> {
    const rows = await this.db.kysely.selectFrom('oauth_artifacts').selectAll().where('model', '=', model).orderBy('created_at', 'asc').execute();
    return rows.map(toArtifact);
  }

  /** Per client with unexpired grants: its id, the newest name seen at consent, and how many grants. */
  async clientsWithGrants(): Promise<{ clientId: string; clientName: string | null; grants: number; firstSeen: string }[]> {
    const rows = await this.db.kysely
      .selectFrom('oauth_artifacts')
      .select((eb) => ['client_id', eb.fn.max('client_name').as('client_name'), eb.fn.countAll<number>().as('grants'), eb.fn.min('created_at').as('first_seen')])
      .where('model', '=', 'Grant')
      .where('expires_at', '>', nowIso())
      .groupBy('client_id')
      .execute();
    return rows.map((r) => ({ clientId: r.client_id!, clientName: r.client_name ?? null, grants: Number(r.grants), firstSeen: String(r.first_seen) }));
  }

  /** Remember a revoked grant (idempotent). */
  async recordRevokedGrant(grantId: string, reason: string): Promise<void> {
    await this.db.kysely
      .insertInto('oauth_revoked_grants')
      .values({ grant_id: grantId, revoked_at: nowIso(), reason })
      .onConflict((oc) => oc.column('grant_id').doNothing())
      .execute();
  }

  /** Grants revoked since `sinceIso` (loaded at start into the in-memory set). */
  async revokedGrantsSince(sinceIso: string): Promise<string[]> {
    const rows = await this.db.kysely.selectFrom('oauth_revoked_grants').select('grant_id').where('revoked_at', '>=', sinceIso).execute();
    return rows.map((r) => r.grant_id);
  }

  /** Delete artifacts past their expiry and revocations older than `revokedBeforeIso`. */
  async purge(revokedBeforeIso: string): Promise<number> {
    const a = await this.db.kysely.deleteFrom('oauth_artifacts').where('expires_at', '<', nowIso()).executeTakeFirst();
    await this.db.kysely.deleteFrom('oauth_revoked_grants').where('revoked_at', '<', revokedBeforeIso).execute();
    return Number(a.numDeletedRows);
  }
}
