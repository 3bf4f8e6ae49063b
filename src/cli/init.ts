import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command } from 'commander';
import { fail } from './exit.js';
import { output } from './output.js';

/** `portcullis init [--file F] [--force]`: write the commented starter config. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented starter config file')
    .option('-f, --file <file>', 'where to write it', 'portcullis.yaml')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { file: string; force?: boolean }, cmd: Command) => {
      const { STARTER_CONFIG } = await import('../config/starter.js');
      const file = resolve(opts.file);
      if (existsSync(file) && !opts.force) fail(`${file} already exists; pass --force to overwrite it`);
      try {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, STARTER_CONFIG, { mode: 0o644 });
      } catch (e) {
        fail(`cannot write ${file}: ${(e as Error).message}`);
      }
      output(cmd, { file }, () => `wrote ${file}\nnext: npx portcullis check-config --config ${opts.file} && npx portcullis serve --config ${opts.file}`);
    });
}
