import { type EventEmitter } from 'node:events';

/**
 * stdout whose reader went away (`portcullis serve | head`, a log shipper
 * restarting) fails the next write with EPIPE. Two things then stop the
 * gateway unless handled: an `'error'` event on `process.stdout` that nobody
 * listens for ends the process, and pino's exit hook flushes its pending log
 * lines synchronously to the dead descriptor, which SonicBoom retries forever
 * — the process hangs on SIGTERM. With this guard the gateway keeps serving
 * and still shuts down: what it would have written to stdout (audit lines with
 * `audit.stdout`, log lines) is dropped, one line on stderr says so, and audit
 * events still reach the store. `alsoStdout` are the other writers on the same
 * descriptor (the logger's destination): they get the EPIPE too, so pino's own
 * broken-pipe handling turns them off before anything flushes them at exit.
 */
export function keepServingWhenStdoutCloses(
  alsoStdout: EventEmitter[] = [],
  stream: NodeJS.WriteStream = process.stdout,
  warn: (line: string) => void = (l) => process.stderr.write(l),
): void {
  // stderr may be the same closed pipe (`portcullis serve 2>&1 | head`): then there is nowhere left to
  // report to, and its EPIPE must not end the process either.
  if (stream === process.stdout) process.stderr.on('error', () => {});
  let warned = false;
  const report = (err: NodeJS.ErrnoException) => {
    if (warned) return;
    warned = true;
    warn(`portcullis: stdout failed (${err.code ?? err.message}); lines meant for stdout (logs, audit.stdout) are dropped from now on, the gateway keeps serving\n`);
  };
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') for (const s of alsoStdout) s.emit('error', err);
    report(err);
  });
  for (const s of alsoStdout) s.on('error', report);
}

/** Write to stdout unless it has already failed (see keepServingWhenStdoutCloses). */
export function writeStdout(line: string): void {
  if (!process.stdout.destroyed) process.stdout.write(line);
}
