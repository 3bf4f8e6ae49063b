import { html } from './html.js';

export interface LoginPageInput {
  /** Path prefix of the public URL. */
  base: string;
  returnTo: string | null;
  csrfToken: string;
  passwordLogin: boolean;
  email?: string;
  error?: string;
}

/** `GET /login`: the fields **Email** and **Password** and the button **Sign in** (SPEC §11). */
export function loginBody(p: LoginPageInput) {
  if (!p.passwordLogin) {
    return html`<h1>Sign in</h1>
<p>Sign-in with email and password is turned off on this gateway, and no other sign-in method is configured.</p>
<p class="muted">Ask the administrator of this gateway.</p>`;
  }
  return html`<h1>Sign in</h1>
${p.error ? html`<p class="error" role="alert">${p.error}</p>` : ''}
<form method="post" action="${p.base}/login">
<input type="hidden" name="csrf_token" value="${p.csrfToken}">
${p.returnTo ? html`<input type="hidden" name="return_to" value="${p.returnTo}">` : ''}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${p.email ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Sign in</button></div>
</form>`;
}

/** `GET /login` when already signed in (no return_to): who, and **Sign out**. */
export function signedInBody(p: { base: string; email: string; csrfToken: string }) {
  return html`<h1>Signed in</h1>
<p>You are signed in as <strong>${p.email}</strong>.</p>
<form method="post" action="${p.base}/logout">
<input type="hidden" name="csrf_token" value="${p.csrfToken}">
<div class="actions"><button type="submit" class="secondary">Sign out</button></div>
</form>`;
}
