/**
 * The authorization server's endpoints (SPEC §10) inside the one fastify
 * router: each route hands node's raw request and response to the engine's
 * request callback (oidc-provider's documented way of mounting it under a
 * framework), after the gateway's own steps:
 *
 *   GET  /oauth/authorize[/{uid}]  → engine (the browser flow)
 *   POST /oauth/register           → JSON → registration policy (mode, redirect
 *                                    URI rules, public clients when open) → engine
 *   POST /oauth/revoke             → form → client secret digest → engine
 *   POST /oauth/token              → (oauth.ts) authorization_code and
 *                                    refresh_token grants → engine
 *
 * Before a request is handed over, X-Forwarded-Proto/-Host are set from
 * `server.public_url` (never taken from the client) and X-Forwarded-For to the
 * client address the gateway resolved.
 */
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Services } from '../services.js';
import { hasScope } from '../../auth/principal.js';
import { applicationTypeFor, redirectUriProblem } from '../../lib/redirect-uri.js';
import { AUTHORIZE_PATH, DYNAMIC_CLIENT_PREFIX, hashClientSecret, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH, type AuthorizationServer } from '../../oauth/index.js';
import { GatewayError } from '../../errors/index.js';
import { credentialInput } from '../middleware/authenticate.js';
import { formFields, publicBase, withFormBodies } from '../page-forms.js';

type Callback = (req: IncomingMessage, res: ServerResponse) => void;

/** A request whose body the gateway already read, readable again for the engine (which reads bodies itself). */
function replayable(raw: IncomingMessage, body: Buffer): IncomingMessage {
  const stream = Readable.from([body]);
  raw.headers['content-length'] = String(body.length);
  return new Proxy(raw, {
    get(target, prop) {
      if (prop === 'readable') return true;
      if (prop === 'readableEncoding') return null;
      if (prop === 'iterator') return stream.iterator.bind(stream);
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * Headers the engine reads its own URL and the client address from: set from
 * `server.public_url` and the address the gateway resolved, never taken
 * from the client (the engine trusts them: `provider.proxy`).
 */
export function engineRequestHeaders(req: FastifyRequest, publicUrl: URL): void {
  const h = req.raw.headers;
  h['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1);
  h['x-forwarded-host'] = publicUrl.host;
  h['x-forwarded-for'] = req.ip;
}

export interface ProviderMount {
  /** Hand a request to the engine; `body` when the gateway has read (and possibly rewritten) it. */
  handOff(req: FastifyRequest, reply: FastifyReply, body?: { content: string; authorization?: string }): void;
  /** The form body and Authorization header with a registered client's secret replaced by its stored digest. */
  digestClientSecret(body: string, authorization: string | undefined): { content: string; authorization?: string };
}

const mounts = new WeakMap<AuthorizationServer, ProviderMount>();

/** The mount of one authorization server (one per app; the token route and these routes share it). */
export function providerMount(s: Services, oauth: AuthorizationServer): ProviderMount {
  let m = mounts.get(oauth);
  if (!m) mounts.set(oauth, (m = createMount(s, oauth)));
  return m;
}

function createMount(s: Services, oauth: AuthorizationServer): ProviderMount {
  const publicUrl = new URL(s.config.server.public_url);
  const base = publicBase(s.config);
  const callback = oauth.provider.callback() as Callback;
  // Koa reports errors it could not answer as 'error' events; a listener replaces its console output.
  (oauth.provider as unknown as NodeJS.EventEmitter).on('error', (err: Error) => s.logger.error({ err }, 'authorization server request failed'));

  return {
    handOff(req, reply, body) {
      reply.hijack();
      const raw = req.raw;
      engineRequestHeaders(req, publicUrl);
      if (base) (raw as IncomingMessage & { originalUrl?: string }).originalUrl = base + (raw.url ?? '');
      if (body?.authorization !== undefined) raw.headers.authorization = body.authorization;
      callback(body ? replayable(raw, Buffer.from(body.content)) : raw, reply.raw);
    },

    digestClientSecret(content, authorization) {
      const m = authorization ? /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization) : null;
      if (m) {
        const decoded = Buffer.from(m[1], 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const formDecode = (x: string) => {
          try {
            return decodeURIComponent(x.replace(/\+/g, ' '));
          } catch {
            return null; // malformed: left to the engine, which refuses it (invalid_client)
          }
        };
        const id = colon > 0 ? formDecode(decoded.slice(0, colon)) : null;
        const secret = colon > 0 ? formDecode(decoded.slice(colon + 1)) : null;
        if (id !== null && secret !== null) {
          if (id.startsWith(DYNAMIC_CLIENT_PREFIX)) {
            const enc = (x: string) => encodeURIComponent(x);
            return { content, authorization: 'Basic ' + Buffer.from(`${enc(id)}:${enc(hashClientSecret(secret))}`).toString('base64') };
          }
        }
        return { content };
      }
      const params = new URLSearchParams(content);
      const id = params.get('client_id');
      const secret = params.get('client_secret');
      if (id?.startsWith(DYNAMIC_CLIENT_PREFIX) && secret) {
        params.set('client_secret', hashClientSecret(secret));
        return { content: params.toString() };
      }
      return { content };
    },
  };
}

/**
 * Fields a registration may set; anything else is dropped before the engine
 * sees it. (`scope` is dropped too: what a client may get is decided per
 * authorization request, by the person's consent and groups.)
 */
const REGISTRATION_FIELDS = ['redirect_uris', 'client_name', 'client_uri', 'logo_uri', 'contacts', 'tos_uri', 'policy_uri', 'software_id', 'software_version', 'grant_types', 'response_types', 'token_endpoint_auth_method'];

const registrationError = (error: 'invalid_redirect_uri' | 'invalid_client_metadata', description: string) => ({ error, error_description: description });

/**
 * The gateway's registration policy (SPEC §10) on an RFC 7591 request:
 * redirect URIs must be https, http on loopback or a private-use scheme;
 * only the authorization-code grant (with refresh tokens); when registration
 * is `open` only public clients (PKCE, no secret).
 */
export function checkRegistration(body: unknown, mode: 'open' | 'admin'): { ok: Record<string, unknown> } | { error: ReturnType<typeof registrationError> } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { error: registrationError('invalid_client_metadata', 'the body must be a JSON object') };
  const b = body as Record<string, unknown>;
  const uris = b.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || uris.length > 50) return { error: registrationError('invalid_redirect_uri', 'redirect_uris must list 1 to 50 URIs') };
  for (const u of uris) {
    const problem = redirectUriProblem(u);
    if (problem) return { error: registrationError('invalid_redirect_uri', `${typeof u === 'string' ? u.slice(0, 200) : 'a redirect URI'} ${problem}`) };
  }
  const grants = b.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!Array.isArray(grants) || grants.length === 0 || grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token'))
    return { error: registrationError('invalid_client_metadata', 'grant_types may only contain authorization_code and refresh_token') };
  if (b.response_types !== undefined && (!Array.isArray(b.response_types) || b.response_types.some((r) => r !== 'code')))
    return { error: registrationError('invalid_client_metadata', 'response_types may only contain code') };
  const method = b.token_endpoint_auth_method ?? 'none';
  const allowed = mode === 'open' ? ['none'] : ['none', 'client_secret_basic', 'client_secret_post'];
  if (typeof method !== 'string' || !allowed.includes(method))
    return { error: registrationError('invalid_client_metadata', mode === 'open' ? 'only public clients may register here: token_endpoint_auth_method must be none (PKCE)' : `token_endpoint_auth_method must be one of ${allowed.join(', ')}`) };
  if (b.client_name !== undefined && (typeof b.client_name !== 'string' || b.client_name.length > 200)) return { error: registrationError('invalid_client_metadata', 'client_name must be a string of at most 200 characters') };
  const ok: Record<string, unknown> = {};
  for (const k of REGISTRATION_FIELDS) if (b[k] !== undefined) ok[k] = b[k];
  ok.grant_types = grants.includes('authorization_code') ? grants : ['authorization_code', ...grants];
  ok.response_types = ['code'];
  ok.token_endpoint_auth_method = method;
  ok.application_type = applicationTypeFor(uris as string[]);
  return { ok };
}

export async function oauthProviderRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const oauth = s.oauth;
  if (!oauth) return;
  const mount = providerMount(s, oauth);
  const mode = s.config.auth.authorization_server.dynamic_registration;
  const toEngine = (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    mount.handOff(req, reply);
    done();
  };
  const noop = async () => undefined;

  // The browser flow: no body, handed over before fastify does anything else.
  app.route({ method: 'GET', url: AUTHORIZE_PATH, onRequest: toEngine, handler: noop });
  app.route({ method: 'GET', url: `${AUTHORIZE_PATH}/:uid`, onRequest: toEngine, handler: noop });
  // CORS preflight of the endpoints browser-based clients call (the engine answers per client).
  for (const path of [TOKEN_PATH, REVOKE_PATH, ...(mode !== 'off' ? [REGISTER_PATH] : [])]) app.route({ method: 'OPTIONS', url: path, onRequest: toEngine, handler: noop });

  if (mode !== 'off') {
    app.post(REGISTER_PATH, async (req, reply) => {
      if (mode === 'admin') {
        // Only an admin credential may register (SPEC §10); it is not passed on.
        const p = await s.auth.authenticate(credentialInput(req));
        if (p.role !== 'admin' || !hasScope(p, 'admin')) throw new GatewayError('forbidden', { detail: 'Client registration is limited to admins on this gateway' });
        delete req.raw.headers.authorization;
      }
      const checked = checkRegistration(req.body, mode);
      if ('error' in checked) return reply.code(400).headers({ 'cache-control': 'no-store' }).send(checked.error);
      if (mode === 'open') delete req.raw.headers.authorization;
      req.raw.headers['content-type'] = 'application/json';
      mount.handOff(req, reply, { content: JSON.stringify(checked.ok) });
      return reply;
    });
  }

  await withFormBodies(app, (scope) => {
    scope.post(REVOKE_PATH, async (req, reply) => {
      if (typeof req.body !== 'string' || !formFields(req.body))
        return reply.code(400).headers({ 'cache-control': 'no-store' }).send({ error: 'invalid_request', error_description: 'The body must be application/x-www-form-urlencoded without repeated parameters' });
      const authz = req.headers.authorization;
      mount.handOff(req, reply, mount.digestClientSecret(req.body, typeof authz === 'string' ? authz : undefined));
      return reply;
    });
  });
}
