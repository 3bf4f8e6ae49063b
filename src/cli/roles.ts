import { type Command } from 'commander';
import { type RoleWithUsage } from '../auth/role-admin.js';
import { listOption } from './args.js';
import { withClient } from './context.js';
import { cell, col, output, renderTable, type Column } from './output.js';

export const ROLE_COLUMNS: Column<RoleWithUsage>[] = [
  col('NAME', 'name', (r) => r.name),
  col('SOURCE', 'source', (r) => r.source),
  col('PERMISSIONS', 'permissions', (r) => cell.list(r.permissions)),
  col('USERS', 'users', (r) => String(r.users)),
  col('DESCRIPTION', 'description', (r) => cell.text(r.description)),
  col('CREATED', 'created_at', (r) => cell.text(r.created_at)),
  col('UPDATED', 'updated_at', (r) => cell.text(r.updated_at)),
];

const roleLine = (r: RoleWithUsage) => `${r.name}  permissions=${cell.list(r.permissions)}  users=${r.users}`;

/** `portcullis roles list|get|create|update|delete` (local store or --url). */
export function registerRoles(program: Command): void {
  const roles = program.command('roles').description('built-in and custom roles (sets of permissions) (the configured store, or a running gateway with --url)');

  roles
    .command('list')
    .description('list roles with their permissions and how many users hold each')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.roles.list();
        output(cmd, list, () => renderTable(ROLE_COLUMNS, list));
      });
    });

  roles
    .command('get <name>')
    .description('show one role')
    .action(async (name: string, _o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const r = await client.roles.get(name);
        output(cmd, r, () => ROLE_COLUMNS.map((c) => `${c.header.toLowerCase()}: ${c.value(r)}`).join('\n'));
      });
    });

  roles
    .command('create <name>')
    .description('create a custom role')
    .option('--permissions <list>', 'permissions, comma-separated (repeatable), e.g. servers:read,servers:operate,audit:read', listOption)
    .option('--description <text>', 'free text')
    .action(async (name: string, o: { permissions?: string[]; description?: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const r = await client.roles.create({ name, permissions: o.permissions ?? [], ...(o.description !== undefined ? { description: o.description } : {}) });
          output(cmd, r, () => `created role ${roleLine(r)}`);
        },
        { changes: true },
      );
    });

  roles
    .command('update <name>')
    .description("replace a custom role's permissions and/or description; applies to the next request")
    .option('--permissions <list>', 'permissions, comma-separated (repeatable); "" for none', listOption)
    .option('--description <text>', 'free text')
    .action(async (name: string, o: { permissions?: string[]; description?: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const r = await client.roles.update(name, { ...(o.permissions !== undefined ? { permissions: o.permissions } : {}), ...(o.description !== undefined ? { description: o.description } : {}) });
          output(cmd, r, () => `updated role ${roleLine(r)}`);
        },
        { changes: true },
      );
    });

  roles
    .command('delete <name>')
    .description('delete a custom role (refused while a user holds it)')
    .action(async (name: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          await client.roles.delete(name);
          output(cmd, { deleted: name }, () => `deleted role ${name}`);
        },
        { changes: true },
      );
    });
}
