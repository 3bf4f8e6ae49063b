import { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { publicAuditEvent } from '../../audit/format.js';
import { GatewayError } from '../../errors/index.js';
import { parseDuration } from '../../lib/duration.js';
import { now } from '../../lib/time.js';

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

const ACTION_RE = /^[a-z_]+(?:\.[a-z_]+)*(?:\.\*)?$/;

/** An ISO-8601 instant, or a duration meaning "that long ago" (`since=24h`). */
const instant = () =>
  z.string().transform((s, ctx) => {
    const d = parseDuration(s);
    if (d !== undefined) return new Date(now() - d).toISOString();
    const t = /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
    if (Number.isNaN(t)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date/time or a duration like 24h' });
      return z.NEVER;
    }
    return new Date(t).toISOString();
  });

const querySchema = z.strictObject({
  actor: z.string().min(1).max(320).optional(),
  server: z.string().min(1).max(64).optional(),
  action: z
    .string()
    .max(1000)
    .transform((s, ctx) => {
      const list = s.split(',').map((a) => a.trim()).filter(Boolean);
      if (!list.length || list.some((a) => !ACTION_RE.test(a))) {
        ctx.addIssue({ code: 'custom', message: 'must be action names (e.g. token.create) or families (token.*), comma-separated' });
        return z.NEVER;
      }
      return list;
    })
    .optional(),
  decision: z.enum(['allow', 'deny']).optional(),
  since: instant().optional(),
  until: instant().optional(),
  limit: z
    .string()
    .regex(/^\d{1,7}$/, `must be an integer from 1 to ${AUDIT_MAX_LIMIT}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= AUDIT_MAX_LIMIT, `must be an integer from 1 to ${AUDIT_MAX_LIMIT}`)
    .optional(),
  cursor: z
    .string()
    .max(512)
    .transform((s, ctx) => {
      const c = decodeCursor(s);
      if (!c) {
        ctx.addIssue({ code: 'custom', message: 'is not a cursor returned by this endpoint' });
        return z.NEVER;
      }
      return c;
    })
    .optional(),
});

/** Opaque cursor over (ts, id) of the last event of a page. */
export function encodeCursor(ts: string, id: string): string {
  return Buffer.from(JSON.stringify([ts, id])).toString('base64url');
}

export function decodeCursor(s: string): { ts: string; id: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(v) || v.length !== 2) return undefined;
    const [ts, id] = v as unknown[];
    if (typeof ts !== 'string' || typeof id !== 'string' || id.length > 64 || Number.isNaN(Date.parse(ts))) return undefined;
    return { ts, id };
  } catch {
    return undefined;
  }
}

function parseQuery(raw: unknown) {
  const q = (raw ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(q))
    if (typeof v !== 'string')
      throw new GatewayError('validation_failed', { detail: `Invalid ${k}: must be given once`, errors: [{ field: k, message: 'must be given once' }] });
  const r = querySchema.safeParse(q);
  if (r.success) return r.data;
  const errors = r.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: k, message: 'unknown query parameter' }))
      : [{ field: i.path.map(String).join('.') || '(query)', message: i.message }],
  );
  throw new GatewayError('validation_failed', { detail: `Invalid ${errors[0].field}: ${errors[0].message}`, errors });
}

/** GET /api/v1/audit — `audit:read` (http/access.ts). Newest first, cursor-paginated. */
export async function auditRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.get('/api/v1/audit', { onRequest: s.authenticate }, async (req) => {
    const q = parseQuery(req.query);
    const limit = q.limit ?? AUDIT_DEFAULT_LIMIT;
    // Read-your-writes on this replica: what was recorded before the query is in the store.
    await s.audit.flush();
    const rows = await s.store.audit.query({
      actor: q.actor,
      server: q.server,
      actions: q.action,
      decision: q.decision,
      since: q.since,
      until: q.until,
      after: q.cursor,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map(publicAuditEvent),
      next_cursor: rows.length > limit && last ? encodeCursor(last.ts, last.id) : null,
    };
  });
}
