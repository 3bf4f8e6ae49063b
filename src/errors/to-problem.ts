import { type GatewayError } from './gateway-error.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  errors?: { field: string; message: string }[];
}

/** RFC 9457 problem document for a GatewayError. 5xx never carry internals. */
export function toProblem(err: GatewayError): Problem {
  const p: Problem = { type: 'about:blank', title: err.title, status: err.status, code: err.code };
  if (err.detail && err.status < 500) p.detail = err.detail;
  else if (err.status >= 500 && err.detail && err.code !== 'internal_error') p.detail = err.detail;
  if (err.errors?.length) p.errors = err.errors;
  return p;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
