import { type Command } from 'commander';
import { runUntilSignal } from '../main.js';
import { configFrom, describeError, fail } from './common.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the gateway')
    .action(async (_opts, cmd: Command) => {
      try {
        await runUntilSignal(configFrom(cmd));
      } catch (e) {
        fail(describeError(e));
      }
    });
}
