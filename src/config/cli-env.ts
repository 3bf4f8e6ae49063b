/**
 * What the CLI takes from the environment. Like loadConfig, this is one of
 * the two places that read `process.env`; every command gets these values
 * from here.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface CliEnvironment {
  /** PORTCULLIS_URL: a gateway to administer remotely. */
  url: string | undefined;
  /** PORTCULLIS_TOKEN: a bearer token for it (never printed). */
  token: string | undefined;
  /** Where `portcullis login` keeps its token by default. */
  defaultTokenFile: string;
}

export function cliEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return {
    url: env.PORTCULLIS_URL || undefined,
    token: env.PORTCULLIS_TOKEN || undefined,
    defaultTokenFile: join(configHome, 'portcullis', 'token.json'),
  };
}
