// The "null proxy": a bare undici Pool pass-through with no auth, no parsing.
// The floor any Node proxy pays for one more hop. Usage: node bench/null-proxy.mjs <targetOrigin> [port].
import { createServer } from 'node:http';
import { Pool } from 'undici';

const target = new URL(process.argv[2]);
const pool = new Pool(target.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

const http = createServer((req, res) => {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  pool.stream(
    { path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    ({ statusCode, headers: h }) => {
      const out = {};
      for (const [k, v] of Object.entries(h)) if (!HOP.has(k)) out[k] = v;
      res.writeHead(statusCode, out);
      return res;
    },
    (err) => {
      if (err && !res.headersSent) res.writeHead(502).end();
    },
  );
});
http.keepAliveTimeout = 60_000;
http.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => process.stdout.write(`READY ${http.address().port}\n`));
