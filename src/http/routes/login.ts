/**
 * Sign-in for people (SPEC §11): `GET /login`, `POST /login` (email and
 * password, throttled with the API login's budgets), `POST /logout` (with the
 * session's CSRF token). A successful sign-in starts a browser session and
 * returns to `return_to` when it is a path on this gateway.
 *
 *   GET  /login:  signed in? → return_to (or "signed in" page) : the form
 *   POST /login:  form → CSRF (cookie + field) → password login on? →
 *                 check password → session cookie → 303 return_to
 *   POST /logout: form or X-CSRF-Token → session → CSRF → end → 303 /login
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { GatewayError } from '../../errors/index.js';
import { sha256Hex } from '../../lib/crypto.js';
import { clearCookie, cookieValue, setCookie } from '../cookies.js';
import { formFields, LoginCsrf, publicBase, safeReturnTo, withFormBodies } from '../page-forms.js';
import { errorBody, loginBody, sendPage, signedInBody } from '../pages/index.js';

const MAX_LOGIN_INPUT = 254;
const MAX_PASSWORD = 1024;

export async function loginRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const { config, browserSessions: sessions } = s;
  const base = publicBase(config);
  const secure = sessions.options.secure;
  const loginCsrf = new LoginCsrf(sessions, secure);

  const sessionOf = (req: FastifyRequest) => sessions.resolve(cookieValue(req.headers.cookie, sessions.cookieName));
  const page = (reply: FastifyReply, status: number, title: string, body: ReturnType<typeof loginBody>, formActionSelf = false) =>
    sendPage(reply, status, { title, body, base }, { formActionSelf });
  const formPage = (reply: FastifyReply, status: number, p: { returnTo: string | null; email?: string; error?: string }) =>
    page(reply, status, 'Sign in', loginBody({ base, csrfToken: loginCsrf.issue(reply), passwordLogin: config.auth.password_login, ...p }));
  const refused = (reply: FastifyReply, status: number, message: string, code: string) => page(reply, status, 'Sign-in failed', errorBody({ title: 'Sign-in failed', message, code }), true);

  app.get('/login', async (req, reply) => {
    const returnTo = safeReturnTo(config, (req.query as Record<string, unknown>).return_to);
    const session = await sessionOf(req);
    if (session) {
      if (returnTo) return reply.code(303).header('location', returnTo).header('cache-control', 'no-store').send();
      return page(reply, 200, 'Signed in', signedInBody({ base, email: session.user.email, csrfToken: sessions.csrfToken(session.id) }), true);
    }
    return formPage(reply, 200, { returnTo });
  });

  await withFormBodies(app, (scope) => {
    scope.post('/login', async (req, reply) => {
      const form = formFields(req.body);
      if (!form) return refused(reply, 400, 'The sign-in form was not sent correctly.', 'bad_request');
      const returnTo = safeReturnTo(config, form.get('return_to'));
      if (!loginCsrf.verify(req, form.get('csrf_token'))) return refused(reply, 403, 'The sign-in form has expired. Go back, reload the page and sign in again.', 'csrf_failed');
      if (!config.auth.password_login) return refused(reply, 403, 'Sign-in with email and password is turned off on this gateway.', 'password_login_disabled');
      const email = (form.get('email') ?? '').trim();
      const password = form.get('password') ?? '';
      if (!email || !password || email.length > MAX_LOGIN_INPUT || password.length > MAX_PASSWORD) return formPage(reply, 400, { returnTo, email: email.slice(0, MAX_LOGIN_INPUT), error: 'Enter your email and password.' });

      let user;
      try {
        user = await s.sessions.checkPassword({ login: email, password, ip: req.ip });
      } catch (e) {
        if (!(e instanceof GatewayError)) throw e;
        // Never the typed login verbatim: it may be a password typed in the wrong field.
        s.audit.record({ action: 'auth.login_failed', actor: `sha256:${sha256Hex(email.toLowerCase()).slice(0, 16)}`, actorType: 'anonymous', ip: req.ip, status: e.status, detail: { code: e.code, via: 'browser' } });
        s.metrics.authFailure.inc({ method: 'password', reason: e.code });
        if (e.code === 'login_throttled') {
          reply.header('retry-after', e.headers['Retry-After'] ?? '60');
          return formPage(reply, 429, { returnTo, email, error: 'Too many failed sign-in attempts. Wait a few minutes and try again.' });
        }
        if (e.code === 'invalid_credentials') return formPage(reply, 401, { returnTo, email, error: 'Wrong email or password.' });
        if (e.code === 'password_login_disabled') return refused(reply, 403, 'Sign-in with email and password is turned off on this gateway.', e.code);
        throw e;
      }
      const started = await sessions.start(user.id);
      s.audit.record({ action: 'auth.login', actor: user.id, actorType: 'user', ip: req.ip, status: 303, detail: { via: 'browser' } });
      s.metrics.authSuccess.inc({ method: 'password' });
      reply.header('set-cookie', setCookie(sessions.cookieName, started.cookieValue, { secure, maxAge: Math.floor(config.auth.browser_sessions.max_age / 1000) }));
      reply.header('set-cookie', clearCookie(loginCsrf.cookieName, { secure }));
      return reply.code(303).header('location', returnTo ?? `${base}/login`).header('cache-control', 'no-store').send();
    });

    scope.post('/logout', async (req, reply) => {
      const form = formFields(req.body);
      const header = req.headers['x-csrf-token'];
      const token = form?.get('csrf_token') ?? (typeof header === 'string' ? header : undefined);
      const session = await sessionOf(req);
      if (!session) {
        reply.header('set-cookie', clearCookie(sessions.cookieName, { secure }));
        return reply.code(303).header('location', `${base}/login`).send();
      }
      if (!sessions.verifyCsrf(session.id, token)) return refused(reply, 403, 'The sign-out request did not come from this gateway’s page.', 'csrf_failed');
      await sessions.end(session.id);
      s.audit.record({ action: 'auth.logout', actor: session.user.id, actorType: 'user', ip: req.ip, status: 303, detail: { via: 'browser' } });
      reply.header('set-cookie', clearCookie(sessions.cookieName, { secure }));
      return reply.code(303).header('location', `${base}/login`).header('cache-control', 'no-store').send();
    });
  });
}
