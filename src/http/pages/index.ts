/** Server-rendered pages: one escaping helper, one shell, one stylesheet (reused by the console and login providers). */
export { html, escapeHtml, SafeHtml } from './html.js';
export { documentHtml, pageHeaders, sendPage, STYLESHEET_PATH, type PageHeaderOptions } from './shell.js';
export { STYLESHEET } from './assets.js';
export { errorBody } from './error.js';
export { loginBody, signedInBody, type LoginPageInput } from './login.js';
export { consentBody, type ConsentPageInput } from './consent.js';
