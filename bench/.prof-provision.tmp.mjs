import { request } from 'undici';
const base = 'http://127.0.0.1:39112';
async function j(m, u, b, h = {}) { const r = await request(base + u, { method: m, headers: { 'content-type': 'application/json', ...h }, body: b && JSON.stringify(b) }); const t = await r.body.text(); if (r.statusCode >= 400) throw new Error(t); return { h: r.headers, b: t ? JSON.parse(t) : null }; }
const a = await j('POST', '/api/v1/auth/register', { email: 'a@b.local', password: 'admin-password-1' });
await j('POST', '/api/v1/users', { email: 'u@b.local', password: 'user-password-1', groups: ['bench'] }, { authorization: 'Bearer ' + a.b.token });
const l = await j('POST', '/api/v1/auth/login', { email: 'u@b.local', password: 'user-password-1' });
const t = await j('POST', '/api/v1/auth/tokens', { name: 'p', scopes: ['mcp:execute'] }, { authorization: 'Bearer ' + l.b.token });
const i = await j('POST', '/mcp/echo', { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'p', version: '1' } } }, { authorization: 'Bearer ' + t.b.token, accept: 'application/json, text/event-stream' });
console.log(JSON.stringify({ token: t.b.token, sid: i.h['mcp-session-id'] }));
