/**
 * `portcullis login --url U` and `portcullis logout`: a session for the
 * remote CLI. login asks for email (or username) and password (no echo on a
 * terminal; one line each from a pipe), signs in with POST /api/v1/auth/login
 * and writes the token file (mode 0600):
 * `{"access_token", "refresh_token", "url", "expires_at", "email"}`. Later
 * commands with the same --url use it and renew the access token with the
 * refresh token. logout revokes the token (the session, or an API token)
 * and deletes the file.
 */
import { existsSync, rmSync } from 'node:fs';
import { type Command } from 'commander';
import { cliEnvironment } from '../config/cli-env.js';
import { RemoteApi } from './client/remote.js';
import { fileToken, readTokenFile, writeTokenFile } from './client/token-file.js';
import { normalizeUrl, warnIfCleartext } from './context.js';
import { CliError, EXIT, reportError, usageError } from './exit.js';
import { output } from './output.js';
import { Prompter } from './prompt.js';

interface Options {
  url?: string;
  tokenFile?: string;
}

interface LoginAnswer {
  user: { id: string; email: string; role: string };
  token: string;
  refresh_token: string;
  expires_at: string;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('sign in to a running gateway (--url) and keep the token in a file (mode 0600) for later commands')
    .option('--email <email>', 'email or username (asked when not given)')
    .option('--provider <name>', 'sign in through a login provider in the browser (not available in this version)')
    .action(async (o: { email?: string; provider?: string }, cmd: Command) => {
      const prompter = new Prompter();
      try {
        const g = cmd.optsWithGlobals() as Options;
        const env = cliEnvironment();
        if (o.provider !== undefined)
          throw usageError(`--provider: signing in through a login provider is not available in this version of Portcullis (login providers, SPEC §11, are not built yet); sign in with email and password`);
        const raw = g.url ?? env.url;
        if (raw === undefined) throw usageError('--url is required: the gateway to sign in to, e.g. --url https://gw.example.com');
        const url = normalizeUrl(raw, g.url !== undefined ? '--url' : 'PORTCULLIS_URL');
        warnIfCleartext(url);
        const file = g.tokenFile ?? env.defaultTokenFile;
        const login = o.email ?? (await prompter.ask('email: '));
        const password = await prompter.secret('password: ');
        if (!login || !password) throw usageError('give an email (or username) and a password');
        const body = login.includes('@') ? { email: login, password } : { username: login, password };
        const r = await new RemoteApi(url, null).call<LoginAnswer>('POST', '/api/v1/auth/login', body, { auth: false });
        writeTokenFile(file, { access_token: r.token, refresh_token: r.refresh_token, url, expires_at: r.expires_at, email: r.user.email });
        output(cmd, { url, token_file: file, user: { id: r.user.id, email: r.user.email, role: r.user.role } }, () =>
          [`signed in to ${url} as ${r.user.email} (role ${r.user.role})`, `token saved in ${file} (mode 0600); commands with --url ${url} use it`].join('\n'),
        );
      } catch (e) {
        prompter.close();
        reportError(cmd, e);
      }
      prompter.close();
    });

  program
    .command('logout')
    .description('revoke the token of the token file (login session or API token) and delete the file')
    .action(async (_o, cmd: Command) => {
      try {
        const g = cmd.optsWithGlobals() as Options;
        const env = cliEnvironment();
        const file = g.tokenFile ?? env.defaultTokenFile;
        if (!existsSync(file)) throw new CliError(`not signed in: there is no token file ${file}`, EXIT.unauthenticated, 'unauthenticated');
        const content = readTokenFile(file);
        const raw = g.url ?? content.url ?? env.url;
        if (raw === undefined) throw usageError(`${file} does not name its gateway: give --url`);
        const url = normalizeUrl(raw, '--url');
        if (content.url && normalizeUrl(content.url, `url in ${file}`) !== url) throw usageError(`the token in ${file} belongs to ${content.url}, not ${url}`);
        const api = new RemoteApi(url, fileToken(file, content));
        let revoked = true;
        try {
          const me = await api.call<{ method: string; token_id: string | null }>('POST', '/api/v1/auth/tokens/validate');
          if (me.method === 'api_token' && me.token_id) await api.call('DELETE', `/api/v1/auth/tokens/${encodeURIComponent(me.token_id)}`);
          else await api.call('POST', '/api/v1/auth/logout');
        } catch (e) {
          // A token the gateway no longer accepts is as good as revoked; anything else is an error.
          if (!(e instanceof CliError && e.exit === EXIT.unauthenticated)) throw e;
          revoked = false;
        }
        rmSync(file, { force: true });
        output(cmd, { url, token_file: file, revoked }, () =>
          `${revoked ? `signed out of ${url}: the token is revoked` : `the token was no longer valid at ${url}`}; ${file} deleted`,
        );
      } catch (e) {
        reportError(cmd, e);
      }
    });
}
