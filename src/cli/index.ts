import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerCheckConfig } from './check-config.js';
import { registerGroups } from './groups.js';
import { registerInit } from './init.js';
import { registerLogin } from './login.js';
import { registerMigrate } from './migrate.js';
import { registerRoles } from './roles.js';
import { registerOAuth } from './oauth.js';
import { registerServe } from './serve.js';
import { registerServers } from './servers.js';
import { registerServiceAccounts } from './service-accounts.js';
import { registerTokens } from './tokens.js';
import { registerUsers } from './users.js';
import { EXIT } from './exit.js';

/** The package version (dist/cli/index.js → ../../package.json). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('portcullis')
    .description('Authenticating and authorizing gateway for MCP servers')
    .version(version(), '-V, --version', 'print the version')
    // Global options: accepted before the command and after it (npx takes options right after the package name).
    .option('-c, --config <file>', 'config file of the local store (default: $PORTCULLIS_CONFIG)')
    .option('--url <url>', 'administer a running gateway over its API instead (default: $PORTCULLIS_URL)')
    .option('--token-file <file>', 'token for --url: a bare token or {"access_token": ...} (default: $PORTCULLIS_TOKEN, or the file portcullis login wrote)')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError()
    // Usage errors (unknown option, missing argument) exit 2 like every other invalid input.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.invalidInput));
  registerServe(program);
  registerInit(program);
  registerCheckConfig(program);
  registerMigrate(program);
  registerLogin(program);
  registerUsers(program);
  registerTokens(program);
  registerGroups(program);
  registerRoles(program);
  registerServers(program);
  registerServiceAccounts(program);
  registerOAuth(program);
  await program.parseAsync(argv);
}
