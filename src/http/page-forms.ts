/**
 * What the gateway's pages share on the request side: the public URL's path
 * prefix, `return_to` checking (same-origin paths only), form bodies, and the
 * pre-session CSRF cookie of the sign-in form.
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type BrowserSessions } from '../auth/browser-sessions.js';
import { type Config } from '../config/index.js';
import { randomToken } from '../lib/crypto.js';
import { cookieValue, setCookie } from './cookies.js';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
const FORM_LIMIT = 16 * 1024;
const NOT_FORM = Symbol('not-form');

/** The path prefix of `server.public_url` ('' at the root): links and form actions start with it. */
export function publicBase(config: Config): string {
  return new URL(config.server.public_url).pathname.replace(/\/+$/, '');
}

/**
 * `return_to` when it is a path on this gateway's own origin (under the
 * public path prefix); null for anything else — absolute URLs, `//host`,
 * backslashes, control characters — which is then ignored (SPEC §11).
 */
export function safeReturnTo(config: Config, value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return null;
  if (!value.startsWith('/') || value.startsWith('//') || /[\\\s\u0000-\u001f\u007f]/.test(value)) return null;
  const origin = new URL(config.server.public_url).origin;
  let u: URL;
  try {
    u = new URL(value, origin);
  } catch {
    return null;
  }
  if (u.origin !== origin) return null;
  const base = publicBase(config);
  if (base && u.pathname !== base && !u.pathname.startsWith(base + '/')) return null;
  return u.pathname + u.search;
}

/**
 * Register routes that take `application/x-www-form-urlencoded` bodies (the
 * pages' forms), in their own scope; any other body reaches the handler as a
 * marker formFields() refuses.
 */
export async function withFormBodies(app: FastifyInstance, routes: (scope: FastifyInstance) => void | Promise<void>): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) => done(null, body));
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, _body, done) => done(null, NOT_FORM));
    await routes(scope);
  });
}

/** The fields of a form body; null when it is not a form or repeats a field. */
export function formFields(body: unknown): Map<string, string> | null {
  if (typeof body !== 'string') return null;
  const out = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(body)) {
    if (out.has(k)) return null;
    out.set(k, v);
  }
  return out;
}

/**
 * The sign-in form's CSRF defence before there is a session: a random cookie
 * (SameSite=Strict) and a hidden field holding its HMAC; a cross-site form
 * can send neither.
 */
export class LoginCsrf {
  readonly cookieName: string;

  constructor(
    private readonly sessions: BrowserSessions,
    private readonly secure: boolean,
  ) {
    this.cookieName = secure ? '__Host-portcullis_login_csrf' : 'portcullis_login_csrf';
  }

  /** A fresh cookie (set on the reply) and the matching form token. */
  issue(reply: FastifyReply): string {
    const value = randomToken(32);
    reply.header('set-cookie', setCookie(this.cookieName, value, { secure: this.secure, maxAge: 3600, sameSite: 'strict' }));
    return this.sessions.csrfToken(`login:${value}`);
  }

  verify(req: FastifyRequest, presented: string | undefined): boolean {
    const value = cookieValue(req.headers.cookie, this.cookieName);
    return !!value && /^[A-Za-z0-9_-]{43}$/.test(value) && this.sessions.verifyCsrf(`login:${value}`, presented);
  }
}
