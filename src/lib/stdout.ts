import { type EventEmitter } from 'node:events';

/**
 * stdout whose reader went away (`portcullis serve | head`, a log shipper
 * that exits) fails the next write with EPIPE, and an `'error'` event on
 * `process.stdout` that nobody listens for ends the process. With this guard
 * the gateway keeps serving: what it would have written to stdout (audit
 * lines with `audit.stdout`, log lines) is dropped, one line on stderr says
 * so, and audit events still reach the store. `logDestinations` are the other
 * writers on descriptor 1 (the logger's; see stdoutLogDestination): they are
 * handed the EPIPE so pino's own broken-pipe handling stops them at once, and
 * their own failures are reported the same way. stderr may be the same closed
 * pipe (`serve 2>&1 | head`): then there is nowhere left to report to, and
 * its EPIPE must not end the process either.
 */
export function keepServingWhenStdoutCloses(logDestinations: EventEmitter[] = []): void {
  process.stderr.on('error', () => {});
  let warned = false;
  const report = (err: NodeJS.ErrnoException) => {
    if (warned) return;
    warned = true;
    process.stderr.write(`portcullis: stdout failed (${err.code ?? err.message}); lines meant for stdout (logs, audit.stdout) are dropped from now on, the gateway keeps serving\n`);
  };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') for (const d of logDestinations) d.emit('error', err);
    report(err);
  });
  for (const d of logDestinations) d.on('error', report);
}

/** Write to stdout unless it has already failed (see keepServingWhenStdoutCloses). */
export function writeStdout(line: string): void {
  if (!process.stdout.destroyed) process.stdout.write(line);
}
