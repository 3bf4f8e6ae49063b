import { type Command } from 'commander';
import { type PublicServiceAccount } from '../auth/service-accounts.js';
import { listOption } from './args.js';
import { withClient } from './context.js';
import { groupsArgument } from './users.js';
import { cell, col, output, renderTable, type Column } from './output.js';

const secretNotice = (a: PublicServiceAccount, secret: string) =>
  [
    `client_id:     ${a.client_id}`,
    `name:          ${a.name}`,
    `groups:        ${a.groups.join(', ') || '-'}`,
    '',
    'client_secret (shown only now; store it safely):',
    secret,
  ].join('\n');

export const SERVICE_ACCOUNT_COLUMNS: Column<PublicServiceAccount>[] = [
  col('CLIENT_ID', 'client_id', (a) => a.client_id),
  col('NAME', 'name', (a) => a.name),
  col('GROUPS', 'groups', (a) => cell.list(a.groups)),
  col('CREATED', 'created_at', (a) => a.created_at),
  col('UPDATED', 'updated_at', (a) => a.updated_at),
  col('DESCRIPTION', 'description', (a) => cell.text(a.description)),
];

/** `portcullis service-accounts create|list|set-groups|delete|rotate-secret` (local store or --url). */
export function registerServiceAccounts(program: Command): void {
  const sa = program.command('service-accounts').description('manage service accounts for OAuth client_credentials (the configured store, or a running gateway with --url)');

  sa.command('create')
    .description('create a service account; its client secret is printed once')
    .requiredOption('--name <name>', 'unique name (1-64 letters, digits, _ . -)')
    .option('--groups <list>', 'group names, comma-separated (repeatable): its rights', listOption)
    .option('--description <text>', 'free text')
    .action(async (o: { name: string; groups?: string[]; description?: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const a = await client.serviceAccounts.create({
            name: o.name,
            groups: o.groups ?? [],
            ...(o.description !== undefined ? { description: o.description } : {}),
          });
          output(cmd, a, () => `created service account\n${secretNotice(a, a.client_secret)}`);
        },
        { changes: true },
      );
    });

  sa.command('list')
    .description('list service accounts (never their secrets)')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.serviceAccounts.list();
        output(cmd, list, () => renderTable(SERVICE_ACCOUNT_COLUMNS, list));
      });
    });

  sa.command('set-groups <account> [groups]')
    .description("replace the groups of a service account (client_id or name): --groups a,b (or the list as an argument); '' for none")
    .option('--groups <list>', 'group names, comma-separated (repeatable)', listOption)
    .action(async (ref: string, positional: string | undefined, o: { groups?: string[] }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const groups = groupsArgument(positional, o.groups);
          const a = await client.serviceAccounts.update((await client.serviceAccounts.get(ref)).client_id, { groups });
          output(cmd, a, () => `${a.client_id}  ${a.name}  groups=${a.groups.join(',') || '-'}`);
        },
        { changes: true },
      );
    });

  sa.command('delete <account>')
    .description('delete a service account (client_id or name); its tokens stop working')
    .action(async (ref: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const a = await client.serviceAccounts.get(ref);
          await client.serviceAccounts.delete(a.client_id);
          output(cmd, { deleted: a.client_id, name: a.name }, () => `deleted service account ${a.client_id} (${a.name})`);
        },
        { changes: true },
      );
    });

  sa.command('rotate-secret <account>')
    .description('issue a new client secret (client_id or name); the old one stops working at once')
    .action(async (ref: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const a = await client.serviceAccounts.rotateSecret((await client.serviceAccounts.get(ref)).client_id);
          output(cmd, a, () => `rotated the secret\n${secretNotice(a, a.client_secret)}`);
        },
        { changes: true },
      );
    });
}
