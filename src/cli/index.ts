import { Command } from 'commander';
import { registerCheckConfig } from './check-config.js';
import { registerGroups } from './groups.js';
import { registerInit } from './init.js';
import { registerMigrate } from './migrate.js';
import { registerOAuth } from './oauth.js';
import { registerServe } from './serve.js';
import { registerServers } from './servers.js';
import { registerServiceAccounts } from './service-accounts.js';
import { registerTokens } from './tokens.js';
import { registerUsers } from './users.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('portcullis')
    .description('Authenticating and authorizing gateway for MCP servers')
    .option('-c, --config <file>', 'config file (default: $PORTCULLIS_CONFIG)')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError();
  registerServe(program);
  registerInit(program);
  registerCheckConfig(program);
  registerMigrate(program);
  registerUsers(program);
  registerTokens(program);
  registerGroups(program);
  registerServers(program);
  registerServiceAccounts(program);
  registerOAuth(program);
  await program.parseAsync(argv);
}
