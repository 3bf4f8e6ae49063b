import { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Services } from '../services.js';
import { PASSWORD_MAX } from '../../auth/passwords.js';
import { refusedLoginActor } from '../../auth/sessions.js';
import { emailSchema, passwordSchema, usernameSchema } from '../../auth/user-fields.js';
import { GatewayError } from '../../errors/index.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const email = emailSchema;
const password = passwordSchema;

const registerBody = z.strictObject({ email, password, name: z.string().max(200).optional(), username: usernameSchema.optional() });
const loginBody = z
  .strictObject({ email: z.string().max(254).optional(), username: z.string().max(254).optional(), password: z.string().max(PASSWORD_MAX) })
  .refine((b) => !!(b.email ?? b.username), { message: 'email or username is required', path: ['email'] });
const refreshBody = z.strictObject({ refresh_token: z.string().min(1).max(512) });
const passwordBody = z.strictObject({ current_password: z.string().max(PASSWORD_MAX), new_password: password });

/** /api/v1/auth/{register,login,refresh,logout,me,password} */
export async function authRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.post('/api/v1/auth/register', async (req, reply) => {
    const b = parseBody(registerBody, req.body);
    const pair = await s.sessions.register(b);
    req.log.info({ user: pair.user.id, role: pair.user.role }, 'user registered');
    s.audit.record({ action: 'auth.register', actor: pair.user.id, actorType: 'user', ip: req.ip, status: 201, detail: { role: pair.user.role } });
    return reply.code(201).send(pair);
  });

  app.post('/api/v1/auth/login', async (req) => {
    const b = parseBody(loginBody, req.body);
    const login = (b.email ?? b.username)!;
    try {
      const pair = await s.sessions.login({ login, password: b.password, ip: req.ip });
      s.audit.record({ action: 'auth.login', actor: pair.user.id, actorType: 'user', ip: req.ip, status: 200 });
      s.metrics.authSuccess.inc({ method: 'password' });
      return pair;
    } catch (e) {
      if (e instanceof GatewayError) {
        s.audit.record({ action: 'auth.login_failed', ...refusedLoginActor(e), ip: req.ip, status: e.status, detail: { code: e.code } });
        s.metrics.authFailure.inc({ method: 'password', reason: e.code });
      }
      throw e;
    }
  });

  app.post('/api/v1/auth/refresh', async (req) => {
    const b = parseBody(refreshBody, req.body);
    try {
      return await s.sessions.refresh(b.refresh_token);
    } catch (e) {
      if (e instanceof GatewayError && e.code === 'refresh_token_reused') s.audit.record({ action: 'auth.refresh_reuse', actorType: 'anonymous', ip: req.ip, status: 401 });
      throw e;
    }
  });

  app.post('/api/v1/auth/logout', { onRequest: s.authenticate }, async (req, reply) => {
    const p = principalOf(req);
    await s.sessions.logout(p);
    s.audit.record({ action: 'auth.logout', actor: p.id, actorType: p.type, ip: req.ip, status: 204 });
    return reply.code(204).send();
  });

  app.get('/api/v1/auth/me', { onRequest: s.authenticate }, async (req) => {
    const p = principalOf(req);
    const base = {
      id: p.id,
      email: p.email,
      username: p.username,
      role: p.role,
      groups: p.groups,
      type: p.type,
      permissions: [...(await s.roles.permissions(p.role))],
      auth: {
        method: p.method, provider: p.provider, token_id: p.tokenId, scopes: p.scopes, servers: p.servers, expires_at: p.expiresAt ? new Date(p.expiresAt).toISOString() : null,
        // A browser session's CSRF token, for the state-changing calls of the console (X-CSRF-Token).
        ...(p.method === 'browser_session' && p.tokenId ? { csrf_token: s.browserSessions.csrfToken(p.tokenId) } : {}),
      },
    };
    if (p.type === 'user') {
      const u = await s.store.users.byId(p.id);
      return { ...base, name: u?.name ?? null, created_at: u?.createdAt ?? null };
    }
    return { ...base, created_at: null };
  });

  app.post('/api/v1/auth/password', { onRequest: s.authenticate }, async (req, reply) => {
    const b = parseBody(passwordBody, req.body);
    const p = principalOf(req);
    if (p.method !== 'session' && p.method !== 'api_token' && p.method !== 'browser_session') throw new GatewayError('forbidden', { detail: 'Only local users can change a password' });
    await s.sessions.changePassword(p, b.current_password, b.new_password);
    // Browser sessions end too (all but the one making the change).
    await s.browserSessions.endAllForUser(p.id, p.method === 'browser_session' ? (p.tokenId ?? undefined) : undefined);
    s.audit.record({ action: 'auth.password_changed', actor: p.id, actorType: p.type, ip: req.ip, status: 204 });
    return reply.code(204).send();
  });
}
