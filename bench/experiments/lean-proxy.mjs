// EXPERIMENT, not a gateway (docs/performance.md, "Thirteenth round"): the floor
// gateway's duties (bench/floor-proxy.mjs: API-token SHA-256 lookup, whole-body
// JSON-RPC parse and tool grant, one audit row per request in SQLite) on lean
// HTTP/1.1 handling instead of node:http and undici, to size what those layers
// cost per request. The HTTP handling is a minimal sketch with none of the
// checks a server facing clients needs (no limits, no strict parsing, no
// timeouts): it answers the benchmark's well-formed requests and nothing else.
// LEAN_MODE: `raw` (raw sockets on both sides), `httpserver` (node:http server,
// raw upstream client), `undici` (raw server, undici dispatch upstream).
// Usage: node bench/experiments/lean-proxy.mjs <upstreamUrl> <apiToken> <sqliteFile> → "READY <port>".
import { hash } from 'node:crypto';
import { createServer as httpCreate } from 'node:http';
import { connect, createServer } from 'node:net';
import { Pool } from 'undici';
import { uuidv7 } from '../../dist/lib/crypto.js';
import { nowIso } from '../../dist/lib/time.js';
import { openStore } from '../../dist/store/index.js';

const MODE = process.env.LEAN_MODE ?? 'raw';
const [upstreamUrl, apiToken, dbFile] = process.argv.slice(2);
if (!upstreamUrl || !apiToken || !dbFile) throw new Error('usage: lean-proxy.mjs <upstreamUrl> <apiToken> <sqliteFile>');
const target = new URL(upstreamUrl);
const pool = new Pool(target.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const principals = new Map([[hash('sha256', apiToken), { actor: 'user:bench@example.com', tokenId: 'tok_bench' }]]);
const store = await openStore(`sqlite:${dbFile}`);
let queue = [];
function audit(event) { event.id = uuidv7(); event.ts = nowIso(); queue.push(event); if (queue.length < 100) return; const b = queue; queue = []; setImmediate(() => void store.audit.insertMany(b)); }
const CRLF2 = Buffer.from('\r\n\r\n');
// A head: { a: method or status, b: path, headers (lower-case names), bodyStart }, or null while incomplete. No validation.
function parseHead(buf, start, isResponse) {
  const end = buf.indexOf(CRLF2, start);
  if (end === -1) return null;
  const head = buf.latin1Slice(start, end);
  const lines = head.split('\r\n');
  const first = lines[0];
  const headers = {};
  for (let i = 1; i < lines.length; i++) { const l = lines[i]; const c = l.indexOf(':'); headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim(); }
  let a, b;
  if (isResponse) { a = Number(first.slice(9, 12)); } else { const s1 = first.indexOf(' '); const s2 = first.indexOf(' ', s1 + 1); a = first.slice(0, s1); b = first.slice(s1 + 1, s2); }
  return { a, b, headers, bodyStart: end + 4 };
}
const idle = [];
function upstreamSocket() {
  const s = idle.pop();
  if (s) return s;
  const u = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
  u.buf = null; u.cb = null;
  u.on('data', (d) => { u.buf = u.buf ? Buffer.concat([u.buf, d]) : d; tryResponse(u); });
  u.on('error', () => { const cb = u.cb; u.cb = null; cb?.(null); });
  u.on('close', () => { const i = idle.indexOf(u); if (i >= 0) idle.splice(i, 1); const cb = u.cb; u.cb = null; cb?.(null); });
  return u;
}
function tryResponse(u) {
  const h = parseHead(u.buf, 0, true);
  if (!h) return;
  let body;
  const cl = h.headers['content-length'];
  if (cl !== undefined) { const n = Number(cl); if (u.buf.length < h.bodyStart + n) return; body = u.buf.subarray(h.bodyStart, h.bodyStart + n); u.buf = u.buf.length > h.bodyStart + n ? u.buf.subarray(h.bodyStart + n) : null; }
  else if (h.headers['transfer-encoding'] === 'chunked') {
    const parts = []; let p = h.bodyStart;
    for (;;) { const e = u.buf.indexOf('\r\n', p); if (e === -1) return; const n = parseInt(u.buf.latin1Slice(p, e), 16); if (u.buf.length < e + 2 + n + 2) return; if (n === 0) { p = e + 4; break; } parts.push(u.buf.subarray(e + 2, e + 2 + n)); p = e + 2 + n + 2; }
    body = parts.length === 1 ? parts[0] : Buffer.concat(parts); u.buf = u.buf.length > p ? u.buf.subarray(p) : null;
  } else { body = Buffer.alloc(0); u.buf = null; }
  const cb = u.cb; u.cb = null; idle.push(u); cb(h.a, h.headers, body);
}
function refuse(sock, status, code) { const body = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"${code}"}}`; sock.write(`HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`); }
function viaUndici(hdrs, body, cb) {
  const parts = []; let status = 0; let hh = null;
  pool.dispatch({ path: target.pathname, method: 'POST', headers: hdrs, body }, {
    onRequestStart() {}, onResponseStart(_c, s, h) { status = s; hh = h; }, onResponseData(_c, c) { parts.push(c); },
    onResponseEnd() { cb(status, hh, parts.length === 1 ? parts[0] : Buffer.concat(parts)); }, onResponseError() { cb(null); } });
}
function viaRaw(h, body, cb) {
    let head = `POST ${target.pathname} HTTP/1.1\r\n${hostHdr}content-type: application/json\r\naccept: ${h.accept ?? 'application/json'}\r\n`;
    if (h['mcp-protocol-version']) head += `mcp-protocol-version: ${h['mcp-protocol-version']}\r\n`;
    if (h['mcp-session-id']) head += `mcp-session-id: ${h['mcp-session-id']}\r\n`;
    head += `content-length: ${body.length}\r\n\r\n`;
    const u = upstreamSocket(); u.cb = cb; u.cork(); u.write(head, 'latin1'); u.write(body); u.uncork();
}
function forward(h, body, cb) {
  if (MODE === 'undici') { const hd = { 'content-type': 'application/json', accept: h.accept ?? 'application/json' }; if (h['mcp-protocol-version']) hd['mcp-protocol-version'] = h['mcp-protocol-version']; if (h['mcp-session-id']) hd['mcp-session-id'] = h['mcp-session-id']; viaUndici(hd, body, cb); }
  else viaRaw(h, body, cb);
}
const hostHdr = `host: ${target.host}\r\n`;
const server = createServer({ noDelay: true }, (sock) => {
  let buf = null;
  let busy = false;
  const pump = () => {
    while (!busy && buf) {
      const h = parseHead(buf, 0, false);
      if (!h) return;
      const n = Number(h.headers['content-length'] ?? 0);
      if (buf.length < h.bodyStart + n) return;
      const body = buf.subarray(h.bodyStart, h.bodyStart + n);
      buf = buf.length > h.bodyStart + n ? buf.subarray(h.bodyStart + n) : null;
      handle(h, body);
    }
  };
  const handle = (h, body) => {
    const t0 = Date.now();
    const authz = h.headers.authorization;
    const who = authz?.startsWith('Bearer ') ? principals.get(hash('sha256', authz.slice(7))) : undefined;
    if (!who) return refuse(sock, 401, 'unauthenticated');
    let msg; try { msg = JSON.parse(body.toString()); } catch { return refuse(sock, 400, 'parse_error'); }
    const tool = msg.method === 'tools/call' ? msg.params?.name : null;
    if (tool !== null && tool !== 'echo') return refuse(sock, 403, 'forbidden');
    busy = true;
    forward(h.headers, body, (status, hh, reply) => {
      busy = false;
      if (status === null) { refuse(sock, 502, 'upstream_error'); pump(); return; }
      let out = `HTTP/1.1 ${status} OK\r\ncontent-type: ${hh['content-type'] ?? 'application/json'}\r\n`;
      if (hh['mcp-session-id']) out += `mcp-session-id: ${hh['mcp-session-id']}\r\n`;
      out += `content-length: ${reply.length}\r\n\r\n`;
      sock.cork(); sock.write(out, 'latin1'); sock.write(reply); sock.uncork();
      audit({ action: 'mcp.request', actor: who.actor, actorType: 'user', tokenId: who.tokenId, server: 'u', method: msg.method ?? '(response)', tool, decision: 'allow', status, latencyMs: Date.now() - t0, ip: sock.remoteAddress ?? null });
      pump();
    });
  };
  sock.on('data', (d) => { buf = buf ? Buffer.concat([buf, d]) : d; pump(); });
  sock.on('error', () => {});
});
const hserver = httpCreate((req, res) => {
  const t0 = Date.now();
  const authz = req.headers.authorization;
  const who = authz?.startsWith('Bearer ') ? principals.get(hash('sha256', authz.slice(7))) : undefined;
  if (!who) { res.writeHead(401).end(); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    let msg; try { msg = JSON.parse(body.toString()); } catch { res.writeHead(400).end(); return; }
    const tool = msg.method === 'tools/call' ? msg.params?.name : null;
    if (tool !== null && tool !== 'echo') { res.writeHead(403).end(); return; }
    forward(req.headers, body, (status, hh, reply) => {
      if (status === null) { res.writeHead(502).end(); return; }
      const out = { 'content-type': hh['content-type'] ?? 'application/json' };
      if (hh['mcp-session-id']) out['mcp-session-id'] = hh['mcp-session-id'];
      out['content-length'] = reply.length;
      res.writeHead(status, out).end(reply);
      audit({ action: 'mcp.request', actor: who.actor, actorType: 'user', tokenId: who.tokenId, server: 'u', method: msg.method ?? '(response)', tool, decision: 'allow', status, latencyMs: Date.now() - t0, ip: req.socket.remoteAddress ?? null });
    });
  });
});
hserver.keepAliveTimeout = 60_000;
(MODE === 'httpserver' ? hserver : server).listen(0, '127.0.0.1', () => process.stdout.write(`READY ${(MODE === 'httpserver' ? hserver : server).address().port}\n`));
process.on('SIGTERM', async () => { if (queue.length) await store.audit.insertMany(queue); await store.close(); process.exit(0); });
