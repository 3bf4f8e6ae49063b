import { Command } from 'commander';
import { registerServe } from './serve.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('portcullis')
    .description('Authenticating and authorizing gateway for MCP servers')
    .option('-c, --config <file>', 'config file (default: $PORTCULLIS_CONFIG)')
    .showHelpAfterError();
  registerServe(program);
  await program.parseAsync(argv);
}
