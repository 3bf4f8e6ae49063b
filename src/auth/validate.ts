import { type z } from 'zod';
import { formatPath } from '../config/load.js';
import { GatewayError } from '../errors/index.js';

/**
 * Validate an untrusted input object (an API body, a CLI argument set) against
 * a zod schema: its parsed value, or a 422 `validation_failed` naming every
 * offending field.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))
    throw new GatewayError('validation_failed', { detail: 'The body must be a JSON object', errors: [{ field: '(body)', message: 'must be a JSON object' }] });
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const errors = r.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: formatPath([...i.path, k]), message: 'unknown field' }))
      : [{ field: formatPath(i.path), message: i.message }],
  );
  throw new GatewayError('validation_failed', { detail: `Invalid ${errors[0].field}: ${errors[0].message}`, errors });
}
