/**
 * The pages' one stylesheet, served from the gateway (no inline style, no
 * CDN): `GET /assets/portcullis.css`.
 */
export const STYLESHEET = `:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #5f6368; --bg: #f4f5f7; --card: #fff; --line: #d9dce1; --accent: #1f5fbf; --danger: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --muted: #a8adb4; --bg: #16181b; --card: #202327; --line: #3a3f45; --accent: #7ba7ff; --danger: #f2b8b5; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.card { width: min(28rem, 100% - 2rem); margin: 2rem auto; padding: 2rem; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
.brand { margin: 0 0 1rem; font-weight: 600; color: var(--muted); letter-spacing: .02em; }
h1 { font-size: 1.35rem; margin: 0 0 1rem; }
p { margin: .5rem 0; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 500; }
input[type=email], input[type=password], input[type=text] { width: 100%; padding: .6rem .7rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 8px; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--fg); border-color: var(--line); }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; flex-wrap: wrap; }
.error { color: var(--danger); border: 1px solid var(--danger); border-radius: 8px; padding: .6rem .8rem; margin: 1rem 0; }
.muted { color: var(--muted); font-size: .9rem; }
dl { margin: 1rem 0; } dt { font-weight: 600; margin-top: .6rem; } dd { margin: 0; word-break: break-word; }
ul.scopes { padding-left: 1.2rem; } ul.scopes code { font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
`;
