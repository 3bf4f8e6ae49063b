/**
 * Exit codes and error reporting, the same for every command and both modes
 * (docs/cli.md, "Exit codes"):
 *
 *   0  success
 *   1  the operation failed (not found, conflict, last admin, server error, unreachable store)
 *   2  invalid input (bad arguments or options, a body the API refuses with 422, a bad file)
 *   3  not authenticated (no token, or the gateway refused it: 401)
 *   4  not permitted: the credential lacks a permission or scope (403 forbidden, insufficient_scope)
 *   5  the gateway cannot be reached (network error, timeout, or it answered 503: not ready)
 */
import { type Command } from 'commander';
import { GatewayError } from '../errors/index.js';

export const EXIT = { ok: 0, failure: 1, invalidInput: 2, unauthenticated: 3, forbidden: 4, unreachable: 5 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as is: a message, an error code and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: ExitCode = EXIT.failure,
    readonly code: string = 'error',
    readonly problems: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad usage: exit 2. */
export const usageError = (message: string, problems: string[] = []) => new CliError(message, EXIT.invalidInput, 'invalid_input', problems);

/** The exit code for an answer of the management API (local services raise the same errors). */
export function exitForStatus(status: number, code?: string): ExitCode {
  if (status === 400 || status === 422 || code === 'validation_failed') return EXIT.invalidInput;
  if (status === 401) return EXIT.unauthenticated;
  // Other 403s (scope_not_grantable, token_widening, registration_closed) refuse what was asked, not who asks.
  if (status === 403) return code === undefined || code === 'forbidden' || code === 'insufficient_scope' ? EXIT.forbidden : EXIT.failure;
  if (status === 503) return EXIT.unreachable;
  return EXIT.failure;
}

/** ConfigError and GroupImportError: an Error with that name and a list of problems. */
const isProblemList = (e: unknown, name: string): e is Error & { problems: string[] } =>
  e instanceof Error && e.name === name && Array.isArray((e as { problems?: unknown }).problems);

function describe(e: unknown): { code: string; message: string; problems: string[]; exit: ExitCode } {
  if (e instanceof CliError) return { code: e.code, message: e.message, problems: e.problems, exit: e.exit };
  if (e instanceof GatewayError)
    return {
      code: e.code,
      message: e.status >= 500 ? 'internal error' : (e.detail ?? e.title),
      problems: (e.errors ?? []).map((f) => `${f.field}: ${f.message}`),
      exit: exitForStatus(e.status, e.code),
    };
  // By name, so this module (loaded by every command) does not load the config and group modules.
  if (isProblemList(e, 'GroupImportError')) return { code: 'validation_failed', message: 'invalid group definitions', problems: e.problems, exit: EXIT.invalidInput };
  if (isProblemList(e, 'ConfigError')) return { code: 'invalid_config', message: 'invalid configuration', problems: e.problems, exit: EXIT.failure };
  return { code: 'error', message: e instanceof Error ? e.message : String(e), problems: [], exit: EXIT.failure };
}

/** A plain message on stderr and exit (commands without JSON error output). */
export function fail(message: string, code: ExitCode = EXIT.failure): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}

/** Print an error (JSON on stderr with --json) and exit with its code. */
export function reportError(cmd: Command, e: unknown): never {
  const json = !!(cmd.optsWithGlobals() as { json?: boolean }).json;
  const d = describe(e);
  if (json) process.stderr.write(JSON.stringify({ error: { code: d.code, message: d.message, problems: d.problems } }) + '\n');
  else process.stderr.write(`portcullis: ${d.message}${d.problems.length ? '\n  ' + d.problems.join('\n  ') : ''}\n`);
  process.exit(d.exit);
}
