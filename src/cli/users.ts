import { type Command } from 'commander';
import { type PublicUser } from '../auth/sessions.js';
import { listOption, readStdin } from './args.js';
import { withClient } from './context.js';
import { usageError } from './exit.js';
import { cell, col, output, renderTable, type Column } from './output.js';

const userLine = (u: PublicUser) => `${u.id}  ${u.email}  role=${u.role}  groups=${u.groups.join(',') || '-'}${u.disabled ? '  (disabled)' : ''}`;

export const USER_COLUMNS: Column<PublicUser>[] = [
  col('ID', 'id', (u) => u.id),
  col('EMAIL', 'email', (u) => u.email),
  col('USERNAME', 'username', (u) => cell.text(u.username)),
  col('ROLE', 'role', (u) => u.role),
  col('GROUPS', 'groups', (u) => cell.list(u.groups)),
  col('DISABLED', 'disabled', (u) => cell.yesNo(u.disabled)),
  col('NAME', 'name', (u) => cell.text(u.name)),
  col('CREATED', 'created_at', (u) => u.created_at),
  col('UPDATED', 'updated_at', (u) => u.updated_at),
];

/** `portcullis users create|list|get|set-role|set-groups|disable|delete` (local store or --url). */
export function registerUsers(program: Command): void {
  const users = program.command('users').description('manage users (the configured store, or a running gateway with --url)');

  users
    .command('create')
    .description('create a user')
    .requiredOption('--email <email>', 'email address (unique)')
    .option('--password <password>', 'password (prefer --password-stdin: arguments are visible to other local users)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--role <role>', 'admin | operator | viewer | user | a custom role', 'user')
    .option('--groups <list>', 'group names, comma-separated (repeatable)', listOption)
    .option('--username <name>', 'optional login name')
    .option('--name <name>', 'display name')
    .action(async (o: { email: string; password?: string; passwordStdin?: boolean; role: string; groups?: string[]; username?: string; name?: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          if (!!o.password === !!o.passwordStdin) throw usageError('give exactly one of --password or --password-stdin');
          const password = o.passwordStdin ? await readStdin() : o.password!;
          const u = await client.users.create({
            email: o.email,
            password,
            role: o.role,
            ...(o.groups !== undefined ? { groups: o.groups } : {}),
            ...(o.username !== undefined ? { username: o.username } : {}),
            ...(o.name !== undefined ? { name: o.name } : {}),
          });
          output(cmd, u, () => `created user ${userLine(u)}`);
        },
        { changes: true },
      );
    });

  users
    .command('list')
    .description('list users')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.users.list();
        output(cmd, list, () => renderTable(USER_COLUMNS, list));
      });
    });

  users
    .command('get <user>')
    .description('show one user (id, email or username)')
    .action(async (ref: string, _o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const u = await client.users.get(ref);
        output(cmd, u, () => USER_COLUMNS.map((c) => `${c.header.toLowerCase()}: ${c.value(u)}`).join('\n'));
      });
    });

  /** `body` runs inside the client's error handling (its usage errors exit 2 like any other). */
  const update = (cmd: Command, ref: string, body: () => Record<string, unknown>, verb: string) =>
    withClient(
      cmd,
      async (client) => {
        const patch = body();
        const u = await client.users.update((await client.users.get(ref)).id, patch);
        output(cmd, u, () => `${verb} ${userLine(u)}`);
      },
      { changes: true },
    );

  users
    .command('set-role <user> <role>')
    .description("change a user's role (user = id, email or username; role = built-in or custom)")
    .action((ref: string, role: string, _o, cmd: Command) => update(cmd, ref, () => ({ role }), 'updated'));

  users
    .command('set-groups <user> [groups]')
    .description("replace a user's groups: --groups a,b (or the list as an argument); '' for none")
    .option('--groups <list>', 'group names, comma-separated (repeatable)', listOption)
    .action((ref: string, positional: string | undefined, o: { groups?: string[] }, cmd: Command) =>
      update(cmd, ref, () => ({ groups: groupsArgument(positional, o.groups) }), 'updated'),
    );

  users
    .command('disable <user>')
    .description('disable a user (ends their sessions; their API tokens are refused while disabled); --enable reverses it')
    .option('--enable', 'enable the user again')
    .action((ref: string, o: { enable?: boolean }, cmd: Command) => update(cmd, ref, () => ({ disabled: !o.enable }), o.enable ? 'enabled' : 'disabled'));

  users
    .command('delete <user>')
    .description('delete a user and revoke all of their tokens and sessions')
    .action(async (ref: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const u = await client.users.get(ref);
          await client.users.delete(u.id);
          output(cmd, { deleted: u.id, email: u.email }, () => `deleted user ${u.id} (${u.email})`);
        },
        { changes: true },
      );
    });
}

/** A group list given as `--groups a,b` or as the argument `a,b` (exactly one of them). */
export function groupsArgument(positional: string | undefined, option: string[] | undefined): string[] {
  if ((positional === undefined) === (option === undefined)) throw usageError('give the groups once: --groups a,b (or as the argument a,b); use "" for none');
  return option ?? listOption(positional!, undefined);
}
