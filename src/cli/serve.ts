import { type Command } from 'commander';
import { configFrom, describeError, fail } from './common.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the gateway')
    .action(async (_opts, cmd: Command) => {
      try {
        // Loaded on demand: other commands should not pay for importing the whole server.
        const { runUntilSignal } = await import('../main.js');
        await runUntilSignal(configFrom(cmd));
      } catch (e) {
        fail(describeError(e));
      }
    });
}
