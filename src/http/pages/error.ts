import { html } from './html.js';

/** A page for an error the browser is shown (never a redirect to an unchecked URI). */
export function errorBody(p: { title: string; message: string; code?: string }) {
  return html`<h1>${p.title}</h1>
<p class="error" role="alert">${p.message}</p>
${p.code ? html`<p class="muted">Error code: <code>${p.code}</code></p>` : ''}
<p class="muted">Go back to the application you came from and try again.</p>`;
}
