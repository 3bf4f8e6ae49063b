/**
 * The authorization server's interactions (SPEC §10): where /oauth/authorize
 * sends the browser when it needs the person.
 *
 *   GET  /oauth/interaction/{uid}           login needed → gateway session? finish : /login?return_to=here
 *                                           consent needed → the consent page
 *   POST /oauth/interaction/{uid}/decision  session + CSRF → Allow: grant the scopes
 *                                           (remembered for consent_ttl) | Deny: access_denied
 *
 * The interaction is found by the engine's cookie and must be the one the
 * path names; the person must be the one the interaction was started for.
 */
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Interaction } from 'oidc-provider';
import { type Services } from '../services.js';
import { type ResolvedSession } from '../../auth/browser-sessions.js';
import { type Config } from '../../config/index.js';
import { INTERACTION_PATH, MCP_SCOPES, parseMcpResource, SCOPE_DESCRIPTIONS, type AuthorizationServer } from '../../oauth/index.js';
import { cookieValue } from '../cookies.js';
import { engineRequestHeaders } from './oauth-provider.js';
import { formFields, publicBase, withFormBodies } from '../page-forms.js';
import { consentBody, documentHtml, errorBody, pageHeaders, sendPage } from '../pages/index.js';

const UID_RE = /^[A-Za-z0-9_-]{10,64}$/;

/** What the person is told for an authorization error that cannot go back to the client. */
const ERROR_TITLES: Record<string, string> = {
  invalid_client: 'Unknown application',
  invalid_redirect_uri: 'This application’s return address is not registered',
  invalid_request: 'The sign-in request is not valid',
  invalid_target: 'Unknown server',
  unauthorized_client: 'This application may not sign in here',
};

/** The page for authorization errors shown in the browser (oidc-provider `renderError`). */
export function renderAuthorizationErrorPage(config: Config, e: { error: string; error_description?: string }): { html: string; headers: Record<string, string> } {
  const title = ERROR_TITLES[e.error] ?? 'The sign-in request failed';
  const html = documentHtml({ title, base: publicBase(config), body: errorBody({ title, message: e.error_description ?? 'The request could not be completed.', code: e.error }) });
  return { html, headers: pageHeaders({ formActionSelf: true }) };
}

/** Host the browser goes back to: `claude.ai`, `127.0.0.1:33418`, or the private-use scheme (`cursor:`). */
function redirectHost(uri: string): string {
  try {
    const u = new URL(uri);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.host : `${u.protocol}//${u.host}`;
  } catch {
    return uri.slice(0, 100);
  }
}

export async function oauthInteractionRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const oauth = s.oauth;
  if (!oauth) return;
  const { config, browserSessions: sessions } = s;
  const base = publicBase(config);
  const issuer = config.server.public_url;
  const publicUrl = new URL(issuer);

  const errorPage = (reply: FastifyReply, status: number, message: string, code: string) =>
    sendPage(reply, status, { title: 'Sign-in request failed', base, body: errorBody({ title: 'The sign-in request cannot continue', message, code }) }, { formActionSelf: true });

  /** The interaction the cookie names, when it is the one in the path. */
  async function interactionOf(req: FastifyRequest, reply: FastifyReply): Promise<Interaction | null> {
    const uid = (req.params as { uid: string }).uid;
    if (!UID_RE.test(uid)) return null;
    engineRequestHeaders(req, publicUrl);
    try {
      const details = await oauth!.provider.interactionDetails(req.raw, reply.raw);
      return details.uid === uid ? details : null;
    } catch {
      return null;
    }
  }
  const expired = (reply: FastifyReply) => errorPage(reply, 400, 'This sign-in request has expired or was opened in another browser. Start again from your application.', 'interaction_expired');
  const toLogin = (reply: FastifyReply, uid: string) =>
    reply.code(303).header('location', `${base}/login?return_to=${encodeURIComponent(`${base}${INTERACTION_PATH}/${uid}`)}`).header('cache-control', 'no-store').send();
  const sessionOf = (req: FastifyRequest) => sessions.resolve(cookieValue(req.headers.cookie, sessions.cookieName));
  const finish = async (req: FastifyRequest, reply: FastifyReply, result: Parameters<AuthorizationServer['provider']['interactionFinished']>[2]) => {
    reply.hijack();
    await oauth.provider.interactionFinished(req.raw, reply.raw, result, { mergeWithLastSubmission: true });
  };

  app.get(`${INTERACTION_PATH}/:uid`, async (req, reply) => {
    const interaction = await interactionOf(req, reply);
    if (!interaction) return expired(reply);
    const session = await sessionOf(req);
    if (!session) return toLogin(reply, interaction.uid);
    // Signed in (or signed in as someone else since it started): that person is the one the request continues for.
    if (interaction.prompt.name === 'login' || interaction.session?.accountId !== session.user.id)
      return finish(req, reply, { login: { accountId: session.user.id, remember: false } });
    return renderConsent(reply, interaction, session);
  });

  async function renderConsent(reply: FastifyReply, interaction: Interaction, session: ResolvedSession) {
    const params = interaction.params as Record<string, string | undefined>;
    const client = await oauth!.provider.Client.find(String(params.client_id));
    if (!client) return expired(reply);
    const server = parseMcpResource(issuer, String(params.resource ?? ''));
    const requested = String(params.scope ?? '').split(' ').filter((x) => x in SCOPE_DESCRIPTIONS);
    const clientKind = config.auth.authorization_server.clients.some((c) => c.client_id === client.clientId)
      ? 'config'
      : client.clientId.startsWith('http')
        ? 'metadata_document'
        : 'dynamic';
    return sendPage(reply, 200, {
      title: 'Allow access?',
      base,
      body: consentBody({
        base,
        action: `${base}${INTERACTION_PATH}/${interaction.uid}/decision`,
        csrfToken: sessions.csrfToken(session.id),
        userEmail: session.user.email,
        clientName: client.clientName ?? client.clientId,
        clientId: client.clientId,
        clientKind,
        redirectHost: redirectHost(String(params.redirect_uri ?? '')),
        server: server ?? null,
        scopes: requested.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] })),
      }),
    });
  }

  await withFormBodies(app, (scope) => {
    scope.post(`${INTERACTION_PATH}/:uid/decision`, async (req, reply) => {
      const interaction = await interactionOf(req, reply);
      if (!interaction || interaction.prompt.name !== 'consent') return expired(reply);
      const session = await sessionOf(req);
      if (!session) return toLogin(reply, interaction.uid);
      const form = formFields(req.body);
      if (!form || !sessions.verifyCsrf(session.id, form.get('csrf_token')) || interaction.session?.accountId !== session.user.id)
        return errorPage(reply, 403, 'The decision did not come from this gateway’s consent page.', 'csrf_failed');
      const params = interaction.params as Record<string, string | undefined>;
      const clientId = String(params.client_id);
      const resource = String(params.resource ?? '');
      const decision = form.get('decision');
      if (decision !== 'allow') {
        s.audit.record({ action: 'oauth.consent', actor: session.user.id, actorType: 'user', ip: req.ip, decision: 'deny', status: 303, detail: { client_id: clientId, resource } });
        oauth.metrics.consents.inc({ decision: 'deny' });
        return finish(req, reply, { error: 'access_denied', error_description: 'The user denied the request' });
      }
      const scopes = String(params.scope ?? '').split(' ');
      const grant = interaction.grantId ? await oauth.provider.Grant.find(interaction.grantId) : undefined;
      const g = grant ?? new oauth.provider.Grant({ accountId: session.user.id, clientId });
      g.addResourceScope(resource, scopes.filter((x) => (MCP_SCOPES as readonly string[]).includes(x)).join(' '));
      if (scopes.includes('offline_access')) g.addOIDCScope('offline_access');
      // A consent given again starts a new consent_ttl.
      g.exp = undefined as unknown as number;
      const grantId = await g.save();
      const client = await oauth.provider.Client.find(clientId);
      await s.store.oauth.nameGrantClient(grantId, client?.clientName ?? clientId);
      s.audit.record({ action: 'oauth.consent', actor: session.user.id, actorType: 'user', ip: req.ip, decision: 'allow', status: 303, detail: { client_id: clientId, resource, scope: scopes.join(' '), grant_id: grantId } });
      oauth.metrics.consents.inc({ decision: 'allow' });
      return finish(req, reply, { consent: { grantId } });
    });
  });
}
