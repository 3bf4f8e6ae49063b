import { readFileSync } from 'node:fs';
import { type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { parseGroupDocument } from '../auth/group-import.js';
import { table, withAdmin } from './admin-context.js';
import { output } from './common.js';

/** `portcullis groups import|list` */
export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('manage groups and their grants (acts on the configured store)');

  groups
    .command('import')
    .description('create or replace groups from a YAML or JSON file (our format or the seed format with scope_name/servers)')
    .requiredOption('--file <file>', 'YAML or JSON file: one group, a list, or {groups: [...]}')
    .action(async (o: { file: string }, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        let text: string;
        try {
          text = readFileSync(o.file, 'utf8');
        } catch (e) {
          throw new Error(`cannot read ${o.file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
        }
        let doc: unknown;
        try {
          doc = parseYaml(text);
        } catch (e) {
          throw new Error(`${o.file} is not valid YAML or JSON: ${(e as Error).message}`);
        }
        const defs = parseGroupDocument(doc);
        const r = await ctx.groups.import(ctx.caller, defs);
        output(cmd, r, () =>
          [`imported ${defs.length} group(s) from ${o.file}`, ...r.created.map((n) => `  created ${n}`), ...r.updated.map((n) => `  updated ${n}`)].join('\n'),
        );
      });
    });

  groups
    .command('list')
    .description('list groups')
    .action(async (_o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const list = await ctx.groups.list();
        output(cmd, list, () =>
          table(
            ['NAME', 'SOURCE', 'GRANTS', 'DESCRIPTION'],
            list.map((g) => [g.name, g.source, g.grants.map((x) => `${x.server}:${x.tools.join('|')}:${x.access_level}`).join(' ') || '-', g.description]),
          ),
        );
      });
    });
}
