import { PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Versioned migrations, in code so the built package carries them. Never edit a
 * released migration; add a new one. Column types are chosen to work the same
 * on SQLite and PostgreSQL (text timestamps, integer booleans).
 */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('settings').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_lower', 'text', (c) => c.notNull().unique())
        .addColumn('username', 'text')
        .addColumn('username_lower', 'text', (c) => c.unique())
        .addColumn('name', 'text')
        .addColumn('password_hash', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('groups')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('grants', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('api'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();
      await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').column('user_id').execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('owner_type', 'text', (c) => c.notNull().defaultTo('user'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text')
        .addColumn('servers', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('rate_limit_per_hour', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('use_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('api_tokens_owner').on('api_tokens').column('owner_id').execute();

      await db.schema
        .createTable('api_token_usage')
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('api_token_usage_pk', ['token_id', 'server'])
        .execute();

      await db.schema
        .createTable('service_accounts')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('servers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('user_credentials')
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_credentials_pk', ['principal_id', 'server'])
        .execute();

      await db.schema
        .createTable('mcp_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('upstream_session_id', 'text')
        .addColumn('replica', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('ts', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('actor_type', 'text')
        .addColumn('token_id', 'text')
        .addColumn('server', 'text')
        .addColumn('method', 'text')
        .addColumn('tool', 'text')
        .addColumn('decision', 'text')
        .addColumn('status', 'integer')
        .addColumn('latency_ms', 'real')
        .addColumn('ip', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('audit_events_ts').on('audit_events').columns(['ts', 'id']).execute();
      await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'ts']).execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['audit_events', 'mcp_sessions', 'user_credentials', 'servers', 'service_accounts', 'api_token_usage', 'api_tokens', 'refresh_tokens', 'groups', 'users', 'settings'])
        await db.schema.dropTable(t).ifExists().execute();
    },
  },
  /**
   * Revoked refresh families get a row of their own with an expiry (the end
   * of their refresh tokens' lifetime), so they can be pruned once expired and
   * loaded at start without scanning every refresh token. Families revoked
   * before this migration are copied from refresh_tokens.
   */
  '0002_refresh_family_expiry': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('revoked_refresh_families')
        .addColumn('family_id', 'text', (c) => c.primaryKey())
        .addColumn('revoked_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('revoked_refresh_families_revoked').on('revoked_refresh_families').column('revoked_at').execute();
      await db.schema.createIndex('revoked_refresh_families_expires').on('revoked_refresh_families').column('expires_at').execute();
      await sql`INSERT INTO revoked_refresh_families (family_id, revoked_at, expires_at)
        SELECT family_id, MAX(revoked_at), MAX(expires_at) FROM refresh_tokens WHERE revoked_at IS NOT NULL GROUP BY family_id`.execute(db);
      await db.schema.createIndex('refresh_tokens_expires').on('refresh_tokens').column('expires_at').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex('refresh_tokens_expires').ifExists().execute();
      await db.schema.dropTable('revoked_refresh_families').ifExists().execute();
    },
  },
  '0003_oauth_authorization_server': {
    // The OAuth 2.1 authorization server (SPEC §10) and browser sessions (§11).
    async up(db: Kysely<any>) {
      // What oidc-provider persists through its adapter (src/oauth/adapter.ts): grants, codes,
      // refresh tokens, interactions, its sessions and registered clients. Token-like ids are
      // stored only as SHA-256 digests (`key`); grants and clients by their public ids.
      await db.schema
        .createTable('oauth_artifacts')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('account_id', 'text')
        .addColumn('client_id', 'text')
        .addColumn('uid', 'text')
        .addColumn('resource', 'text')
        .addColumn('client_name', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('consumed_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addPrimaryKeyConstraint('oauth_artifacts_pk', ['model', 'key'])
        .execute();
      await db.schema.createIndex('oauth_artifacts_grant').on('oauth_artifacts').column('grant_id').execute();
      await db.schema.createIndex('oauth_artifacts_account').on('oauth_artifacts').columns(['model', 'account_id']).execute();
      await db.schema.createIndex('oauth_artifacts_client').on('oauth_artifacts').columns(['model', 'client_id']).execute();
      await db.schema.createIndex('oauth_artifacts_uid').on('oauth_artifacts').columns(['model', 'uid']).execute();
      await db.schema.createIndex('oauth_artifacts_expires').on('oauth_artifacts').column('expires_at').execute();

      // Grants revoked recently enough that an access token of theirs may still be live;
      // every replica keeps this set in memory (loaded at start, fed by the bus).
      await db.schema
        .createTable('oauth_revoked_grants')
        .addColumn('grant_id', 'text', (c) => c.primaryKey())
        .addColumn('revoked_at', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('oauth_revoked_grants_at').on('oauth_revoked_grants').column('revoked_at').execute();

      // Browser sign-in sessions; `id` is the SHA-256 digest of the cookie value.
      await db.schema
        .createTable('browser_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('browser_sessions_user').on('browser_sessions').column('user_id').execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['browser_sessions', 'oauth_revoked_grants', 'oauth_artifacts']) await db.schema.dropTable(t).ifExists().execute();
    },
  },
  '0004_roles_change_feed': {
    async up(db: Kysely<any>) {
      // Custom roles made through the API (config-file and built-in roles are not stored).
      await db.schema
        .createTable('roles')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('permissions', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_role').on('users').column('role').execute();

      // The change feed: invalidation events in commit order, polled by running gateways.
      // SQLite assigns seq under its single write lock; PostgreSQL inserts take an
      // advisory lock and use max(seq)+1, so a higher seq never commits before a lower one.
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema
        .createTable('change_feed')
        .addColumn('seq', postgres ? 'bigint' : 'integer', (c) => (postgres ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('change_feed_created').on('change_feed').column('created_at').execute();

      // Gateways polling the feed, so a CLI can tell whether a change reaches a running gateway.
      await db.schema
        .createTable('change_feed_consumers')
        .addColumn('replica', 'text', (c) => c.primaryKey())
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['change_feed_consumers', 'change_feed', 'roles']) await db.schema.dropTable(t).ifExists().execute();
      await db.schema.dropIndex('users_role').ifExists().execute();
    },
  },
};

export class CodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}
