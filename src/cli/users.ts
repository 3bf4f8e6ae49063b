import { type Command } from 'commander';
import { createUserSchema, updateUserSchema } from '../auth/user-admin.js';
import { type PublicUser } from '../auth/sessions.js';
import { parseBody } from '../auth/validate.js';
import { commaList, table, withAdmin } from './admin-context.js';
import { output } from './common.js';

const userLine = (u: PublicUser) => `${u.id}  ${u.email}  role=${u.role}  groups=${u.groups.join(',') || '-'}${u.disabled ? '  (disabled)' : ''}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `portcullis users create|list|set-role|set-groups|disable` */
export function registerUsers(program: Command): void {
  const users = program.command('users').description('manage local users (acts on the configured store)');

  users
    .command('create')
    .description('create a user')
    .requiredOption('--email <email>', 'email address (unique)')
    .option('--password <password>', 'password (prefer --password-stdin: arguments are visible to other local users)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--role <role>', 'admin | operator | viewer | user', 'user')
    .option('--groups <list>', 'comma-separated group names')
    .option('--username <name>', 'optional login name')
    .option('--name <name>', 'display name')
    .action(async (o: { email: string; password?: string; passwordStdin?: boolean; role: string; groups?: string; username?: string; name?: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        if (!!o.password === !!o.passwordStdin) throw new Error('give exactly one of --password or --password-stdin');
        const password = o.passwordStdin ? await readStdin() : o.password!;
        const input = parseBody(createUserSchema, {
          email: o.email,
          password,
          role: o.role,
          ...(o.groups !== undefined ? { groups: commaList(o.groups) } : {}),
          ...(o.username !== undefined ? { username: o.username } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
        });
        const u = await ctx.users.create(ctx.caller, input);
        output(cmd, u, () => `created user ${userLine(u)}`);
      });
    });

  users
    .command('list')
    .description('list users')
    .action(async (_o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const list = await ctx.users.list({ limit: 1000 });
        output(cmd, list, () =>
          table(
            ['ID', 'EMAIL', 'USERNAME', 'ROLE', 'GROUPS', 'DISABLED'],
            list.map((u) => [u.id, u.email, u.username ?? '-', u.role, u.groups.join(',') || '-', u.disabled ? 'yes' : 'no']),
          ),
        );
      });
    });

  users
    .command('set-role <user> <role>')
    .description("change a user's role (user = id, email or username)")
    .action(async (ref: string, role: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const input = parseBody(updateUserSchema, { role });
        const u = await ctx.users.update(ctx.caller, (await ctx.users.resolve(ref)).id, input);
        output(cmd, u, () => `updated ${userLine(u)}`);
      });
    });

  users
    .command('set-groups <user> <groups>')
    .description("replace a user's groups (comma-separated; \"\" for none)")
    .action(async (ref: string, groups: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const input = parseBody(updateUserSchema, { groups: commaList(groups) });
        const u = await ctx.users.update(ctx.caller, (await ctx.users.resolve(ref)).id, input);
        output(cmd, u, () => `updated ${userLine(u)}`);
      });
    });

  users
    .command('disable <user>')
    .description('disable a user (ends their sessions; their API tokens are refused while disabled); --enable reverses it')
    .option('--enable', 'enable the user again')
    .action(async (ref: string, o: { enable?: boolean }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const u = await ctx.users.update(ctx.caller, (await ctx.users.resolve(ref)).id, { disabled: !o.enable });
        output(cmd, u, () => `${o.enable ? 'enabled' : 'disabled'} ${userLine(u)}`);
      });
    });
}
