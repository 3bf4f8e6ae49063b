/**
 * The page shell every server-rendered page of the gateway shares (sign-in,
 * consent, errors; the console and login-provider buttons reuse it): the
 * document around a body, the stylesheet, and the security headers.
 *
 * Content-Security-Policy: nothing inline, no script at all, styles and
 * images from the gateway only, never framed. `form-action` is left out on
 * pages whose form submission ends in a redirect to an OAuth client (sign-in
 * and consent): browsers apply it to the redirects after a submission, and
 * the client's redirect URI is on another origin or a private-use scheme.
 */
import { type FastifyReply } from 'fastify';
import { html, type SafeHtml } from './html.js';

export const STYLESHEET_PATH = '/assets/portcullis.css';

const BASE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

export interface PageHeaderOptions {
  /** Add `form-action 'self'` (pages whose forms never lead to an OAuth client). */
  formActionSelf?: boolean;
}

export function pageHeaders(opts: PageHeaderOptions = {}): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': opts.formActionSelf ? `${BASE_CSP}; form-action 'self'` : BASE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
  };
}

/** A whole document. `base` is the public URL's path prefix (behind a reverse proxy), prepended to links. */
export function documentHtml(p: { title: string; body: SafeHtml; base: string }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${p.title} · Portcullis</title>
<link rel="stylesheet" href="${p.base}${STYLESHEET_PATH}">
</head>
<body>
<main class="card">
<p class="brand">Portcullis</p>
${p.body}
</main>
</body>
</html>
`.value;
}

/** Send a page with its headers. */
export function sendPage(reply: FastifyReply, status: number, page: { title: string; body: SafeHtml; base: string }, opts: PageHeaderOptions = {}): FastifyReply {
  return reply.code(status).headers(pageHeaders(opts)).send(documentHtml(page));
}
