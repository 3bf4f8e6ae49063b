import { type Command } from 'commander';
import { type ApiTokenView } from '../auth/api-tokens.js';
import { type AdminClient } from './client/admin-client.js';
import { listOption } from './args.js';
import { withClient } from './context.js';
import { CliError, EXIT, usageError } from './exit.js';
import { cell, col, output, renderTable, type Column } from './output.js';

const num = (s: string | undefined) => (s === undefined ? undefined : /^-?\d+$/.test(s.trim()) ? Number(s) : s);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The owner as a person reads it: an email, `sa:<name>` for a service account. */
const owner = (t: ApiTokenView) => (t.owner_type === 'service_account' ? `sa:${t.owner_name ?? t.owner_id}` : (t.owner_email ?? t.owner_id));

export const TOKEN_COLUMNS: Column<ApiTokenView>[] = [
  col('ID', 'id', (t) => t.id),
  col('NAME', 'name', (t) => t.name),
  col('OWNER', ['owner_email', 'owner_name', 'owner_id', 'owner_type'], owner),
  col('PREFIX', 'prefix', (t) => t.prefix + '…'),
  col('SCOPES', 'scopes', (t) => cell.list(t.scopes, '(all)')),
  col('SERVERS', 'servers', (t) => cell.list(t.servers, '(all)')),
  col('EXPIRES', ['expires_at', 'expired'], (t) => (t.expires_at ? (t.expired ? `expired ${t.expires_at}` : t.expires_at) : 'never')),
  col('RATE/H', 'rate_limit_per_hour', (t) => (t.rate_limit_per_hour === null ? '-' : String(t.rate_limit_per_hour))),
  col('CREATED', 'created_at', (t) => t.created_at),
  col('LAST USED', 'last_used_at', (t) => t.last_used_at ?? 'never'),
  col('USES', 'use_count', (t) => String(t.use_count)),
];

/**
 * A token by id, or by its prefix as `tokens list` shows it (`pcl_AbC123`, with
 * or without the trailing …). Several tokens sharing a prefix: exit 2, naming them.
 */
export async function resolveToken(client: AdminClient, ref: string): Promise<string> {
  if (UUID_RE.test(ref)) return ref.toLowerCase();
  const prefix = ref.replace(/…$/, '');
  if (!prefix.startsWith('pcl_')) throw usageError(`${ref}: give a token id or its prefix (pcl_…) as tokens list shows them`);
  const matches = (await client.tokens.list()).filter((t) => t.prefix === prefix);
  if (matches.length === 0) throw new CliError(`No API token with prefix ${prefix}`, EXIT.failure, 'not_found');
  if (matches.length > 1) throw usageError(`${matches.length} tokens share the prefix ${prefix}; give the id`, matches.map((t) => `${t.id}  ${t.name}  ${owner(t)}`));
  return matches[0].id;
}

/** `portcullis tokens create|list|revoke` (local store or --url). */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('manage API tokens (the configured store, or a running gateway with --url)');

  tokens
    .command('create')
    .description('create an API token; the secret is printed once')
    .option('--user <user>', "owner: user id, email or username (required locally; remotely it defaults to you)")
    .requiredOption('--name <name>', 'token name (1-100 characters)')
    .option('--scopes <list>', "mcp:read, mcp:execute, api:read, api:write, admin, comma-separated (default: all of the owner's rights)", listOption)
    .option('--servers <list>', 'server names the token may use, comma-separated (default: all)', listOption)
    .option('--expires-in-days <n>', 'expiry in days (1-3650; default: never)')
    .option('--rate-limit-per-hour <n>', 'requests per hour (default: none)')
    .action(async (o: { user?: string; name: string; scopes?: string[]; servers?: string[]; expiresInDays?: string; rateLimitPerHour?: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const input = {
            name: o.name,
            ...(o.scopes !== undefined ? { scopes: o.scopes } : {}),
            ...(o.servers !== undefined ? { servers: o.servers } : {}),
            ...(o.expiresInDays !== undefined ? { expires_in_days: num(o.expiresInDays) } : {}),
            ...(o.rateLimitPerHour !== undefined ? { rate_limit_per_hour: num(o.rateLimitPerHour) } : {}),
          };
          const ownerId = o.user !== undefined ? (await client.users.get(o.user)).id : null;
          const issued = await client.tokens.create(ownerId, input);
          const t = issued.api_token;
          output(cmd, issued, () =>
            [
              `created API token ${t.id} "${t.name}" for ${owner(t)}`,
              `  scopes: ${t.scopes?.join(', ') ?? "all of the owner's rights"}`,
              `  servers: ${t.servers?.join(', ') ?? 'all'}`,
              `  expires: ${t.expires_at ?? 'never'}`,
              `  rate limit: ${t.rate_limit_per_hour === null ? 'none' : `${t.rate_limit_per_hour}/hour`}`,
              '',
              'token (shown only now; store it safely):',
              issued.token,
            ].join('\n'),
          );
        },
        { changes: true },
      );
    });

  tokens
    .command('list')
    .description('list live API tokens: all of them (locally, or with tokens:manage-all), yours otherwise, or one user\'s')
    .option('--user <user>', 'only the tokens of this user (id, email or username)')
    .action(async (o: { user?: string }, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.tokens.list(o.user !== undefined ? (await client.users.get(o.user)).id : undefined);
        output(cmd, list, () => renderTable(TOKEN_COLUMNS, list));
      });
    });

  tokens
    .command('revoke <token>')
    .description('revoke an API token, by id or by the prefix tokens list shows')
    .action(async (ref: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const id = await resolveToken(client, ref);
          await client.tokens.revoke(id);
          output(cmd, { revoked: id }, () => `revoked API token ${id}`);
        },
        { changes: true },
      );
    });
}
