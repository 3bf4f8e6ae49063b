// A raw node:http JSON-RPC echo "MCP server": the cheapest possible upstream.
// Answers initialize (with a session id), tools/list and tools/call; GET opens an SSE stream.
// Usage: node bench/upstream-echo.mjs [port] → prints "READY <port>".
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { answer } from './echo-answer.mjs';

const http = createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': open\n\n');
    return;
  }
  if (req.method === 'DELETE') {
    res.writeHead(200).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let msg;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      return;
    }
    const headers = { 'content-type': 'application/json' };
    if (!Array.isArray(msg) && msg.method === 'initialize') headers['mcp-session-id'] = randomUUID();
    const out = Array.isArray(msg) ? msg.map(answer).filter(Boolean) : answer(msg);
    if (out === null || (Array.isArray(out) && out.length === 0)) {
      res.writeHead(202).end();
      return;
    }
    res.writeHead(200, headers).end(JSON.stringify(out));
  });
});
http.keepAliveTimeout = 60_000;
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => process.stdout.write(`READY ${http.address().port}\n`));
