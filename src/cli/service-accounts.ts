import { type Command } from 'commander';
import { createServiceAccountSchema, updateServiceAccountSchema, type PublicServiceAccount } from '../auth/service-accounts.js';
import { parseBody } from '../auth/validate.js';
import { commaList, table, withAdmin } from './admin-context.js';
import { output } from './common.js';

const secretNotice = (a: PublicServiceAccount, secret: string) =>
  [
    `client_id:     ${a.client_id}`,
    `name:          ${a.name}`,
    `groups:        ${a.groups.join(', ') || '-'}`,
    '',
    'client_secret (shown only now; store it safely):',
    secret,
  ].join('\n');

/** `portcullis service-accounts create|list|set-groups|delete|rotate-secret` */
export function registerServiceAccounts(program: Command): void {
  const sa = program.command('service-accounts').description('manage service accounts for OAuth client_credentials (acts on the configured store)');

  sa.command('create')
    .description('create a service account; its client secret is printed once')
    .requiredOption('--name <name>', 'unique name (1-64 letters, digits, _ . -)')
    .option('--groups <list>', 'comma-separated group names (its rights)')
    .option('--description <text>', 'free text')
    .action(async (o: { name: string; groups?: string; description?: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const input = parseBody(createServiceAccountSchema, {
          name: o.name,
          groups: o.groups !== undefined ? commaList(o.groups) : [],
          ...(o.description !== undefined ? { description: o.description } : {}),
        });
        const { account, clientSecret } = await ctx.serviceAccounts.create(ctx.caller, input);
        output(cmd, { ...account, client_secret: clientSecret }, () => `created service account\n${secretNotice(account, clientSecret)}`);
      });
    });

  sa.command('list')
    .description('list service accounts (never their secrets)')
    .action(async (_o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const list = await ctx.serviceAccounts.list();
        output(cmd, list, () =>
          table(
            ['CLIENT_ID', 'NAME', 'GROUPS', 'CREATED', 'DESCRIPTION'],
            list.map((a) => [a.client_id, a.name, a.groups.join(',') || '-', a.created_at, a.description || '-']),
          ),
        );
      });
    });

  sa.command('set-groups <account>')
    .description('replace the groups of a service account (client_id or name); applies to its next request')
    .requiredOption('--groups <list>', "comma-separated group names ('' for none)")
    .action(async (ref: string, o: { groups: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const input = parseBody(updateServiceAccountSchema, { groups: commaList(o.groups) });
        const a = await ctx.serviceAccounts.update(ctx.caller, ref, input);
        output(cmd, a, () => `${a.client_id}  ${a.name}  groups=${a.groups.join(',') || '-'}`);
      });
    });

  sa.command('delete <account>')
    .description('delete a service account (client_id or name); its tokens stop working')
    .action(async (ref: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const a = await ctx.serviceAccounts.get(ref);
        await ctx.serviceAccounts.delete(ctx.caller, a.client_id);
        output(cmd, { deleted: a.client_id, name: a.name }, () => `deleted service account ${a.client_id} (${a.name})`);
      });
    });

  sa.command('rotate-secret <account>')
    .description('issue a new client secret (client_id or name); the old one stops working at once')
    .action(async (ref: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const { account, clientSecret } = await ctx.serviceAccounts.rotateSecret(ctx.caller, ref);
        output(cmd, { ...account, client_secret: clientSecret }, () => `rotated the secret\n${secretNotice(account, clientSecret)}`);
      });
    });
}
