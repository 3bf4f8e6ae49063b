import { type Db, migrate, openDb, type OpenDbOptions, ping } from './db.js';
import { ApiTokenStore } from './api-tokens.js';
import { BrowserSessionStore } from './browser-sessions.js';
import { AuditStore } from './audit.js';
import { CredentialStore } from './credentials.js';
import { GroupStore } from './groups.js';
import { McpSessionStore } from './mcp-sessions.js';
import { OAuthStore } from './oauth.js';
import { RefreshTokenStore } from './refresh-tokens.js';
import { ServiceAccountStore } from './service-accounts.js';
import { ServerStore } from './servers.js';
import { SettingsStore } from './settings.js';
import { UserStore } from './users.js';
import { RoleStore } from './roles.js';
import { ChangeFeedStore } from './change-feed.js';

export { openDb, migrate, ping, type Db, type Dialect } from './db.js';
export { type UserRecord, type NewUser, UniqueViolation, isUniqueViolation } from './users.js';
export { type GroupRecord } from './groups.js';
export { type ApiTokenRecord } from './api-tokens.js';
export { type RefreshTokenRecord } from './refresh-tokens.js';
export { type ServiceAccountRecord } from './service-accounts.js';
export { type ServerRecord } from './servers.js';
export { type McpSessionRecord } from './mcp-sessions.js';
export { type CredentialRecord } from './credentials.js';
export { type RoleRecord } from './roles.js';
export { type ChangeRow } from './change-feed.js';
export { type OAuthArtifact, type ArtifactColumns } from './oauth.js';
export { type BrowserSessionRecord } from './browser-sessions.js';

/** All repositories over one database handle. */
export class Store {
  readonly users: UserStore;
  readonly groups: GroupStore;
  readonly settings: SettingsStore;
  readonly refreshTokens: RefreshTokenStore;
  readonly apiTokens: ApiTokenStore;
  readonly audit: AuditStore;
  readonly serviceAccounts: ServiceAccountStore;
  readonly servers: ServerStore;
  readonly mcpSessions: McpSessionStore;
  readonly credentials: CredentialStore;
  readonly roles: RoleStore;
  readonly changeFeed: ChangeFeedStore;
  readonly oauth: OAuthStore;
  readonly browserSessions: BrowserSessionStore;

  constructor(readonly db: Db) {
    this.users = new UserStore(db);
    this.groups = new GroupStore(db);
    this.settings = new SettingsStore(db);
    this.refreshTokens = new RefreshTokenStore(db);
    this.apiTokens = new ApiTokenStore(db);
    this.audit = new AuditStore(db);
    this.serviceAccounts = new ServiceAccountStore(db);
    this.servers = new ServerStore(db);
    this.mcpSessions = new McpSessionStore(db);
    this.credentials = new CredentialStore(db);
    this.roles = new RoleStore(db);
    this.changeFeed = new ChangeFeedStore(db);
    this.oauth = new OAuthStore(db);
    this.browserSessions = new BrowserSessionStore(db);
  }

  ping(): Promise<void> {
    return ping(this.db);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** Open, migrate and wrap the configured store. */
export async function openStore(url: string, opts: OpenDbOptions & { migrate?: boolean } = {}): Promise<Store> {
  const db = await openDb(url, { poolSize: opts.poolSize, onConnectionError: opts.onConnectionError });
  if (opts.migrate !== false) await migrate(db);
  return new Store(db);
}
