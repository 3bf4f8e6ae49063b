// The "floor gateway": the null proxy plus only the work the budget requires of a
// gateway on every tools/call (auth on, audit on), each in its cheapest form:
//   - authenticate a bearer API token: one SHA-256 and one Map lookup;
//   - read the whole body and parse the JSON-RPC message; refuse a tool
//     outside the grant (403) before anything is forwarded;
//   - forward without the Authorization header, on undici's dispatch API,
//     and send the reply gathered into one buffer in one write;
//   - audit one row per request, stamped and written by the gateway's own code
//     (uuidv7, nowIso, the store's batch insert: its schema, indexes and SQLite
//     pragmas), in batches of 100 in the check phase after the turn.
// No sessions of its own (Mcp-Session-Id passes through), metrics, rate limits,
// lifecycle tracking, configurable policy or error bodies: it is the floor a Node
// gateway with this budget's duties stands on, to size what the gateway's
// generality costs (the F arm of `npm run bench`). Not a gateway: it serves one token
// and one grant, on 127.0.0.1, for the benchmark only.
// Needs the gateway built (dist/; the harness builds first).
// Usage: node bench/floor-proxy.mjs <upstreamUrl> <apiToken> <sqliteFile> → prints "READY <port>".
import { hash } from 'node:crypto';
import { createServer } from 'node:http';
import { Pool } from 'undici';
// The gateway's own store (schema, indexes, pragmas, batch insert) and id/timestamp stamping, from its build.
import { uuidv7 } from '../dist/lib/crypto.js';
import { nowIso } from '../dist/lib/time.js';
import { openStore } from '../dist/store/index.js';

const [upstreamUrl, apiToken, dbFile] = process.argv.slice(2);
if (!upstreamUrl || !apiToken || !dbFile) throw new Error('usage: floor-proxy.mjs <upstreamUrl> <apiToken> <sqliteFile>');
const target = new URL(upstreamUrl);
const principals = new Map([[hash('sha256', apiToken), { actor: 'user:bench@example.com', tokenId: 'tok_bench' }]]);
const GRANTED_TOOLS = new Set(['echo']);

const store = await openStore(`sqlite:${dbFile}`);
let queue = [];
function audit(event) {
  event.id = uuidv7();
  event.ts = nowIso();
  queue.push(event);
  if (queue.length < 100) return;
  const batch = queue;
  queue = [];
  setImmediate(() => void store.audit.insertMany(batch));
}

const pool = new Pool(target.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });

function refuse(res, status, code) {
  const body = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"${code}"}}`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
}

const server = createServer((req, res) => {
  const t0 = Date.now();
  const authz = req.headers.authorization;
  const who = authz?.startsWith('Bearer ') ? principals.get(hash('sha256', authz.slice(7))) : undefined;
  if (!who) return refuse(res, 401, 'unauthenticated');
  if (req.method !== 'POST') return refuse(res, 405, 'method_not_allowed');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    let msg;
    try {
      msg = JSON.parse(body.toString());
    } catch {
      return refuse(res, 400, 'parse_error');
    }
    const tool = msg.method === 'tools/call' ? msg.params?.name : null;
    if (tool !== null && !GRANTED_TOOLS.has(tool)) return refuse(res, 403, 'forbidden');
    const headers = { 'content-type': 'application/json', accept: req.headers.accept ?? 'application/json' };
    if (req.headers['mcp-protocol-version']) headers['mcp-protocol-version'] = req.headers['mcp-protocol-version'];
    if (req.headers['mcp-session-id']) headers['mcp-session-id'] = req.headers['mcp-session-id'];
    const parts = [];
    let status = 502;
    let out = null;
    pool.dispatch(
      { path: target.pathname, method: 'POST', headers, body },
      {
        onRequestStart() {},
        onResponseStart(_c, s, h) {
          status = s;
          out = { 'content-type': h['content-type'] ?? 'application/json' };
          if (h['mcp-session-id']) out['mcp-session-id'] = h['mcp-session-id'];
        },
        onResponseData(_c, chunk) {
          parts.push(chunk);
        },
        onResponseEnd() {
          const reply = parts.length === 1 ? parts[0] : Buffer.concat(parts);
          out['content-length'] = reply.length;
          res.writeHead(status, out).end(reply);
          audit({ action: 'mcp.request', actor: who.actor, actorType: 'user', tokenId: who.tokenId, server: 'u', method: msg.method ?? '(response)', tool, decision: 'allow', status, latencyMs: Date.now() - t0, ip: req.socket.remoteAddress ?? null });
        },
        onResponseError() {
          if (!res.headersSent) refuse(res, 502, 'upstream_error');
        },
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
process.on('SIGTERM', async () => {
  if (queue.length) await store.audit.insertMany(queue);
  await store.close();
  process.exit(0);
});
