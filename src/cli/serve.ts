import { type Command } from 'commander';
import { fail } from './exit.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the gateway')
    .action(async (_opts, cmd: Command) => {
      try {
        // Loaded on demand: other commands should not pay for importing the whole server.
        const [{ runUntilSignal }, { configFrom }] = await Promise.all([import('../main.js'), import('./common.js')]);
        await runUntilSignal(configFrom(cmd));
      } catch (e) {
        fail(e instanceof Error ? e.message : String(e));
      }
    });
}
