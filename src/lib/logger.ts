import pino, { type Logger, type LoggerOptions } from 'pino';

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.token',
  '*.refresh_token',
  '*.access_token',
  '*.client_secret',
  '*.secret',
  '*.authorization',
  'password',
  'token',
  'refresh_token',
  'client_secret',
  'secret',
];

/** Strip the query string: it may hold credentials a client wrongly put there. */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q) + '?[redacted]';
}

/**
 * The gateway's log destination: stdout, written synchronously. pino's default
 * (asynchronous) destination flushes what is pending at process exit with a
 * synchronous loop that retries every failed write forever, so a closed stdout
 * (EPIPE) made the process hang on SIGTERM. Written synchronously, a line
 * either leaves at once or fails at once (and pino then stops writing); nothing
 * is left to flush at exit. The cost is one write per line, and the hot path
 * logs nothing below debug (request logging is off).
 */
export function stdoutLogDestination(): pino.DestinationStream & NodeJS.EventEmitter {
  return pino.destination({ dest: 1, sync: true });
}

/** A logger writing to `destination`, by default stdout through stdoutLogDestination (never pino's asynchronous default). */
export function createLogger(level: string, destination: pino.DestinationStream = stdoutLogDestination()): Logger {
  const opts: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'portcullis' },
    serializers: {
      req: (req: { method?: string; url?: string; id?: string; ip?: string }) => ({ id: req.id, method: req.method, url: safeUrl(req.url), ip: req.ip }),
      err: pino.stdSerializers.err,
    },
  };
  return pino(opts, destination);
}

export type { Logger };
