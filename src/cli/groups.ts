import { readFileSync } from 'node:fs';
import { type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { type GroupView } from '../auth/group-admin.js';
import { withClient } from './context.js';
import { CliError, EXIT, usageError } from './exit.js';
import { cell, col, notice, output, renderTable, type Column } from './output.js';

/** `server:tool|tool:level`, with `:resources=` and `:prompts=` when the grant has them. */
const grantText = (x: GroupView['grants'][number]) =>
  `${x.server}:${x.tools.join('|')}:${x.access_level}${x.resources ? `:resources=${x.resources.join('|')}` : ''}${x.prompts ? `:prompts=${x.prompts.join('|')}` : ''}`;

export const GROUP_COLUMNS: Column<GroupView>[] = [
  col('NAME', 'name', (g) => g.name),
  col('SOURCE', 'source', (g) => g.source),
  col('GRANTS', 'grants', (g) => g.grants.map(grantText).join(' ') || '-'),
  col('DESCRIPTION', 'description', (g) => cell.text(g.description)),
  col('CREATED', 'created_at', (g) => g.created_at),
  col('UPDATED', 'updated_at', (g) => g.updated_at),
];

function readDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.failure, 'unreadable');
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw usageError(`${file} is not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** `portcullis groups import|list` (local store or --url). */
export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('manage groups and their grants (the configured store, or a running gateway with --url)');

  groups
    .command('import')
    .description('create or replace groups from a YAML or JSON file (our format or the seed format with scope_name/servers)')
    .requiredOption('--file <file>', 'YAML or JSON file: one group, a list, or {groups: [...]}')
    .action(async (o: { file: string }, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          const r = await client.groups.import(readDocument(o.file));
          const n = r.created.length + r.updated.length;
          output(cmd, r, () =>
            [`imported ${n} group(s) from ${o.file}`, ...r.created.map((x) => `  created ${x}`), ...r.updated.map((x) => `  updated ${x}`)].join('\n'),
          );
          for (const line of r.not_applicable) notice(line);
        },
        { changes: true },
      );
    });

  groups
    .command('list')
    .description('list groups')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.groups.list();
        output(cmd, list, () => renderTable(GROUP_COLUMNS, list));
      });
    });
}
