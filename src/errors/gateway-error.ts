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

/** Wrap anything into a GatewayError; unknown errors become a generic 500. */
export function toGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  return new GatewayError('internal_error', { internal: e });
}
