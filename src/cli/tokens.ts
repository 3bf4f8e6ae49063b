import { type Command } from 'commander';
import { createTokenSchema, type ApiTokenView } from '../auth/api-tokens.js';
import { parseBody } from '../auth/validate.js';
import { commaList, table, withAdmin } from './admin-context.js';
import { output } from './common.js';

const num = (s: string | undefined) => (s === undefined ? undefined : /^-?\d+$/.test(s.trim()) ? Number(s) : s);

/** `portcullis tokens create|list|revoke` */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('manage API tokens (acts on the configured store)');

  tokens
    .command('create')
    .description('create an API token for a user; the secret is printed once')
    .requiredOption('--user <user>', 'owner: user id, email or username')
    .requiredOption('--name <name>', 'token name (1-100 characters)')
    .option('--scopes <list>', 'comma-separated: mcp:read, mcp:execute, api:read, api:write, admin (default: all of the owner\'s rights)')
    .option('--servers <list>', 'comma-separated server names the token may use (default: all)')
    .option('--expires-in-days <n>', 'expiry in days (1-3650; default: never)')
    .option('--rate-limit-per-hour <n>', 'requests per hour (default: none)')
    .action(async (o: { user: string; name: string; scopes?: string; servers?: string; expiresInDays?: string; rateLimitPerHour?: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const owner = await ctx.users.resolve(o.user);
        const input = parseBody(createTokenSchema, {
          name: o.name,
          ...(o.scopes !== undefined ? { scopes: commaList(o.scopes) } : {}),
          ...(o.servers !== undefined ? { servers: commaList(o.servers) } : {}),
          ...(o.expiresInDays !== undefined ? { expires_in_days: num(o.expiresInDays) } : {}),
          ...(o.rateLimitPerHour !== undefined ? { rate_limit_per_hour: num(o.rateLimitPerHour) } : {}),
        });
        const issued = await ctx.tokens.create(ctx.caller, { type: 'user', id: owner.id }, input);
        const t = issued.api_token;
        output(cmd, issued, () =>
          [
            `created API token ${t.id} "${t.name}" for ${owner.email}`,
            `  scopes: ${t.scopes?.join(', ') ?? "all of the owner's rights"}`,
            `  servers: ${t.servers?.join(', ') ?? 'all'}`,
            `  expires: ${t.expires_at ?? 'never'}`,
            `  rate limit: ${t.rate_limit_per_hour === null ? 'none' : `${t.rate_limit_per_hour}/hour`}`,
            '',
            'token (shown only now; store it safely):',
            issued.token,
          ].join('\n'),
        );
      });
    });

  tokens
    .command('list')
    .description('list live API tokens (all, or of one user)')
    .option('--user <user>', 'only the tokens of this user (id, email or username)')
    .action(async (o: { user?: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const owner = o.user !== undefined ? await ctx.users.resolve(o.user) : undefined;
        const list: ApiTokenView[] = owner ? await ctx.tokens.list(ctx.caller, { userId: owner.id }) : await ctx.tokens.list(ctx.caller, { all: true });
        output(cmd, list, () =>
          table(
            ['ID', 'NAME', 'OWNER', 'PREFIX', 'SCOPES', 'EXPIRES', 'LAST USED', 'USES'],
            list.map((t) => [
              t.id,
              t.name,
              t.owner_id,
              t.prefix + '…',
              t.scopes?.join(',') ?? '(all)',
              t.expires_at ? (t.expired ? `expired ${t.expires_at}` : t.expires_at) : 'never',
              t.last_used_at ?? 'never',
              String(t.use_count),
            ]),
          ),
        );
      });
    });

  tokens
    .command('revoke <id>')
    .description('revoke an API token')
    .action(async (id: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        await ctx.tokens.revoke(ctx.caller, id);
        output(cmd, { revoked: id }, () => `revoked API token ${id}`);
      });
    });
}
