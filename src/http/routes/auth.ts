import { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Services } from '../../app.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../auth/passwords.js';
import { GatewayError } from '../../errors/index.js';
import { principalOf } from '../middleware/authenticate.js';
import { parseBody } from '../validate.js';

const email = z.string().trim().max(254).email('must be an email address');
const password = z.string().min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`).max(PASSWORD_MAX);
export const usernameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$/, 'must be 2-64 letters, digits, _ . -');

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
    return reply.code(201).send(pair);
  });

  app.post('/api/v1/auth/login', async (req) => {
    const b = parseBody(loginBody, req.body);
    return s.sessions.login({ login: (b.email ?? b.username)!, password: b.password, ip: req.ip });
  });

  app.post('/api/v1/auth/refresh', async (req) => {
    const b = parseBody(refreshBody, req.body);
    return s.sessions.refresh(b.refresh_token);
  });

  app.post('/api/v1/auth/logout', { preHandler: s.authenticate }, async (req, reply) => {
    await s.sessions.logout(principalOf(req));
    return reply.code(204).send();
  });

  app.get('/api/v1/auth/me', { preHandler: s.authenticate }, async (req) => {
    const p = principalOf(req);
    const base = {
      id: p.id,
      email: p.email,
      username: p.username,
      role: p.role,
      groups: p.groups,
      type: p.type,
      auth: { method: p.method, provider: p.provider, token_id: p.tokenId, scopes: p.scopes, servers: p.servers, expires_at: p.expiresAt ? new Date(p.expiresAt).toISOString() : null },
    };
    if (p.type === 'user') {
      const u = await s.store.users.byId(p.id);
      return { ...base, name: u?.name ?? null, created_at: u?.createdAt ?? null };
    }
    return { ...base, created_at: null };
  });

  app.post('/api/v1/auth/password', { preHandler: s.authenticate }, async (req, reply) => {
    const b = parseBody(passwordBody, req.body);
    const p = principalOf(req);
    if (p.method !== 'session' && p.method !== 'api_token') throw new GatewayError('forbidden', { detail: 'Only local users can change a password' });
    await s.sessions.changePassword(p, b.current_password, b.new_password);
    return reply.code(204).send();
  });
}
