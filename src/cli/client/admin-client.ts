/**
 * What every administration command talks to. Two implementations: the local
 * one acts on the configured store with the same services the HTTP API uses
 * (client/local.ts); the remote one calls a running gateway's /api/v1
 * (client/remote.ts). Commands hold the logic (argument parsing, lookups,
 * output) once and work the same in both modes; a new command group only
 * needs its methods here and in both implementations.
 */
import { type ApiTokenView, type IssuedToken } from '../../auth/api-tokens.js';
import { type GroupView, type ImportResult } from '../../auth/group-admin.js';
import { type RoleWithUsage } from '../../auth/role-admin.js';
import { type PublicServiceAccount } from '../../auth/service-accounts.js';
import { type PublicUser } from '../../auth/sessions.js';
import { type ClientView } from '../../oauth/management.js';

/**
 * A request body as the API takes it. The implementations validate it the
 * way the API does (local: the route's schemas; remote: the gateway itself),
 * so every problem is reported once, with its field, in both modes.
 */
export type Body = Record<string, unknown>;

/** A server as GET /api/v1/servers shows it to a caller with servers:read. */
export interface ServerView {
  name: string;
  description: string | null;
  transport: string;
  source: string;
  endpoint: string;
  /** On a running gateway: its state there; null from the local store (no gateway to ask). */
  status: { state: string; sessions: number; processes?: number } | null;
  url?: string;
  command?: string;
  args?: string[];
  [k: string]: unknown;
}

export interface ToolsView {
  server: string;
  discovered_at: string | null;
  tools: { name: string; description?: string; access?: string; [k: string]: unknown }[];
}

export type ServiceAccountWithSecret = PublicServiceAccount & { client_secret: string };
export type GroupImport = ImportResult & { not_applicable: string[] };

export interface AdminClient {
  readonly mode: 'local' | 'remote';
  /** The store (local) or gateway URL (remote), for messages. */
  readonly target: string;
  users: {
    list(): Promise<PublicUser[]>;
    /** By id, email or username. */
    get(ref: string): Promise<PublicUser>;
    create(body: Body): Promise<PublicUser>;
    update(id: string, body: Body): Promise<PublicUser>;
    delete(id: string): Promise<void>;
  };
  tokens: {
    /** For a user (by id), or (remote, null) for the caller itself. */
    create(userId: string | null, body: Body): Promise<IssuedToken>;
    /** One user's tokens, or every token the caller may see. */
    list(userId?: string): Promise<ApiTokenView[]>;
    revoke(id: string): Promise<void>;
  };
  groups: {
    list(): Promise<GroupView[]>;
    /** A group document as read from a file (YAML or JSON decoded). */
    import(doc: unknown): Promise<GroupImport>;
  };
  serviceAccounts: {
    list(): Promise<PublicServiceAccount[]>;
    /** By client_id or name. */
    get(ref: string): Promise<PublicServiceAccount>;
    create(body: Body): Promise<ServiceAccountWithSecret>;
    update(clientId: string, body: Body): Promise<PublicServiceAccount>;
    delete(clientId: string): Promise<void>;
    rotateSecret(clientId: string): Promise<ServiceAccountWithSecret>;
  };
  servers: {
    list(): Promise<ServerView[]>;
    get(name: string): Promise<ServerView>;
    tools(name: string): Promise<ToolsView>;
    start(name: string): Promise<{ name: string; status: unknown }>;
    stop(name: string): Promise<{ name: string; status: unknown }>;
  };
  roles: {
    list(): Promise<RoleWithUsage[]>;
    get(name: string): Promise<RoleWithUsage>;
    create(body: Body): Promise<RoleWithUsage>;
    update(name: string, body: Body): Promise<RoleWithUsage>;
    delete(name: string): Promise<void>;
  };
  oauthClients: {
    list(): Promise<ClientView[]>;
    /** Deletes a registered client, or ends every authorization of a metadata-document client. */
    delete(clientId: string): Promise<void>;
  };
  /** After a change: a notice when it may not reach a running gateway at once (null: it will). */
  afterChange(): Promise<string | null>;
  close(): Promise<void>;
}
