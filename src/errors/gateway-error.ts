import { ERROR_CODES, type ErrorCode } from './codes.js';

export interface FieldError {
  field: string;
  message: string;
}

export interface GatewayErrorOptions {
  /** Client-safe human explanation. */
  detail?: string;
  /** Log-only detail; never sent to the client. */
  internal?: unknown;
  /** Extra response headers (e.g. WWW-Authenticate, Retry-After). */
  headers?: Record<string, string>;
  /** Field errors for 422. */
  errors?: FieldError[];
  /** Override the registry status (rare; e.g. OAuth endpoints). */
  status?: number;
}

/**
 * The one error type the gateway throws for anything a client caused or
 * should see. Its `message` is always client-safe.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly internal: unknown;
  readonly headers: Record<string, string>;
  readonly errors: FieldError[] | undefined;

  constructor(code: ErrorCode, opts: GatewayErrorOptions = {}) {
    const def = ERROR_CODES[code];
    super(opts.detail ?? def.title);
    this.name = 'GatewayError';
    this.code = code;
    this.status = opts.status ?? def.status;
    this.title = def.title;
    this.detail = opts.detail;
    this.internal = opts.internal;
    this.headers = opts.headers ?? {};
    this.errors = opts.errors;
  }
}

export const isGatewayError = (e: unknown): e is GatewayError => e instanceof GatewayError;

/** Socket-level failures reaching a backing service (database, Redis). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * PostgreSQL SQLSTATEs that mean "not now" rather than "wrong": connection
 * exceptions (class 08), the server shutting down or starting up (57P01–57P03),
 * too many connections (53300), and the database closed to connections (55000,
 * only with that message; the code is generic). (SQLite's busy and locked
 * codes, after its busy timeout, are checked by prefix below.)
 */
const RETRYABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** pg's own errors for a connection that ended or could not be made in time (they carry no code). */
const PG_CONNECTION_MESSAGES = /^(Connection terminated( unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable|timeout exceeded when trying to connect)$/;

/**
 * True when `e` (or its cause) says a backing service is unreachable or
 * dropped the connection: a condition to retry, answered 503, not a bug.
 */
export function isBackendUnavailable(e: unknown, depth = 0): boolean {
  if (!(e instanceof Error) || depth > 3) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNREACHABLE_CODES.has(code) || RETRYABLE_SQLSTATE.test(code)) return true;
    if (code === '55000' && /not currently accepting connections/.test(e.message)) return true;
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return true;
  }
  if (PG_CONNECTION_MESSAGES.test(e.message)) return true;
  return isBackendUnavailable((e as { cause?: unknown }).cause, depth + 1);
}

/**
 * Wrap anything into a GatewayError: a backing service that is unreachable
 * becomes a 503 with Retry-After (the internal error is kept for the log),
 * any other unknown error a generic 500.
 */
export function toGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  if (isBackendUnavailable(e)) return new GatewayError('service_unavailable', { internal: e, headers: { 'Retry-After': '1' } });
  return new GatewayError('internal_error', { internal: e });
}
