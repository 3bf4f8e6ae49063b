import { type Command } from 'commander';
import { fail } from './exit.js';
import { output } from './output.js';

/** `portcullis migrate`: apply pending migrations to the configured store. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations to the configured store')
    .action(async (_opts, cmd: Command) => {
      const [{ redactUrl }, { migrate, openDb }, { configFrom, describeError }] = await Promise.all([import('../config/index.js'), import('../store/index.js'), import('./common.js')]);
      let url: string;
      let applied: string[];
      try {
        const config = configFrom(cmd);
        url = config.storage.url;
        const db = await openDb(url, { poolSize: 1 });
        try {
          ({ applied } = await migrate(db));
        } finally {
          await db.close();
        }
      } catch (e) {
        fail(`migration failed: ${describeError(e)}`);
      }
      const where = url.startsWith('sqlite:') ? url : redactUrl(url);
      output(cmd, { storage: where, applied }, () =>
        applied.length ? `applied ${applied.length} migration(s) to ${where}:\n${applied.map((m) => `  ${m}`).join('\n')}` : `${where} is up to date; nothing to apply`,
      );
    });
}
