/** Kysely table types. Booleans are 0/1 integers and timestamps ISO-8601 text on every backend. */
export interface SettingsTable { key: string; value: string }
export interface UsersTable {
  id: string; email: string; email_lower: string; username: string | null; username_lower: string | null;
  name: string | null; password_hash: string | null; role: string; groups: string; disabled: number;
  created_at: string; updated_at: string;
}
export interface GroupsTable { name: string; description: string; grants: string; source: string; created_at: string; updated_at: string }
export interface RefreshTokensTable {
  id: string; family_id: string; user_id: string; token_hash: string; expires_at: string;
  used_at: string | null; revoked_at: string | null; created_at: string;
}
export interface RevokedRefreshFamiliesTable { family_id: string; revoked_at: string; expires_at: string }
export interface ApiTokensTable {
  id: string; owner_id: string; owner_type: string; name: string; prefix: string; token_hash: string;
  scopes: string | null; servers: string | null; expires_at: string | null; rate_limit_per_hour: number | null;
  created_at: string; last_used_at: string | null; use_count: number; revoked_at: string | null;
}
export interface ApiTokenUsageTable { token_id: string; server: string; count: number }
export interface ServiceAccountsTable {
  client_id: string; name: string; description: string; secret_hash: string; groups: string;
  created_at: string; updated_at: string;
}
export interface ServersTable { name: string; definition: string; created_at: string; updated_at: string }
export interface UserCredentialsTable { principal_id: string; server: string; ciphertext: string; created_at: string; updated_at: string }
export interface McpSessionsTable {
  id: string; server: string; principal_id: string; upstream_session_id: string | null; replica: string | null;
  created_at: string; last_seen_at: string;
}
export interface AuditEventsTable {
  id: string; ts: string; action: string; actor: string | null; actor_type: string | null; token_id: string | null;
  server: string | null; method: string | null; tool: string | null; decision: string | null; status: number | null;
  latency_ms: number | null; ip: string | null; detail: string | null;
}
export interface RolesTable { name: string; description: string; permissions: string; created_at: string; updated_at: string }
export interface ChangeFeedTable { seq: number | string; origin: string; event: string; created_at: string }
export interface ChangeFeedConsumersTable { replica: string; seen_at: string }
export interface OAuthArtifactsTable {
  model: string; key: string; payload: string; grant_id: string | null; account_id: string | null; client_id: string | null;
  uid: string | null; resource: string | null; client_name: string | null; expires_at: string | null; consumed_at: string | null;
  created_at: string; last_used_at: string | null;
}
export interface OAuthRevokedGrantsTable { grant_id: string; revoked_at: string; reason: string }
export interface BrowserSessionsTable { id: string; user_id: string; created_at: string; last_seen_at: string; expires_at: string }

export interface Database {
  settings: SettingsTable;
  users: UsersTable;
  groups: GroupsTable;
  refresh_tokens: RefreshTokensTable;
  revoked_refresh_families: RevokedRefreshFamiliesTable;
  api_tokens: ApiTokensTable;
  api_token_usage: ApiTokenUsageTable;
  service_accounts: ServiceAccountsTable;
  servers: ServersTable;
  user_credentials: UserCredentialsTable;
  mcp_sessions: McpSessionsTable;
  audit_events: AuditEventsTable;
  roles: RolesTable;
  change_feed: ChangeFeedTable;
  change_feed_consumers: ChangeFeedConsumersTable;
  oauth_artifacts: OAuthArtifactsTable;
  oauth_revoked_grants: OAuthRevokedGrantsTable;
  browser_sessions: BrowserSessionsTable;
}
