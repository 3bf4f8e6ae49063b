import { html } from './html.js';

export interface ConsentPageInput {
  base: string;
  action: string;
  csrfToken: string;
  userEmail: string;
  clientName: string;
  clientId: string;
  /** How the client is known: registered by an admin/config, its own metadata document, or self-registered. */
  clientKind: 'config' | 'metadata_document' | 'dynamic';
  /** Host (or scheme) the browser returns to. */
  redirectHost: string;
  /** `demo`, or null for every server (the aggregated endpoint). */
  server: string | null;
  scopes: { name: string; description: string }[];
}

/** The consent page: the client, where it sends you back, the server, each scope by name; **Allow** and **Deny**. */
export function consentBody(p: ConsentPageInput) {
  const kind =
    p.clientKind === 'config' ? 'registered by the administrator' : p.clientKind === 'metadata_document' ? `identified by ${p.clientId}` : 'self-registered; its name is not verified';
  return html`<h1>Allow ${p.clientName} to use ${p.server ? html`the MCP server <code>${p.server}</code>` : 'your MCP servers'}?</h1>
<dl>
<dt>Application</dt><dd>${p.clientName} <span class="muted">(${kind})</span></dd>
<dt>Returns you to</dt><dd><code>${p.redirectHost}</code></dd>
<dt>Server</dt><dd>${p.server ? html`<code>${p.server}</code>` : 'every server you may use (aggregated endpoint)'}</dd>
<dt>Signed in as</dt><dd>${p.userEmail}</dd>
</dl>
<p>It asks for:</p>
<ul class="scopes">
${p.scopes.map((s) => html`<li><code>${s.name}</code> — ${s.description}</li>\n`)}
</ul>
<p class="muted">It can only use the tools your groups allow. You can end this access at any time.</p>
<form method="post" action="${p.action}">
<input type="hidden" name="csrf_token" value="${p.csrfToken}">
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>
</form>`;
}
