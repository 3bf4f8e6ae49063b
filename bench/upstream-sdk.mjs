// A real MCP server on the official SDK: stateful Streamable HTTP, JSON responses, an `echo` tool.
// Usage: node bench/upstream-sdk.mjs [port]  → prints "READY <port>" on stdout.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const transports = new Map();

/**
 * Work around typescript-sdk issue 2559 (SDK 1.32.x): in JSON response mode every
 * POST leaves one `_streamMapping` entry behind. Drop the entry once its response
 * resolves, so the upstream's memory stays flat during long benchmark runs.
 */
function patchJsonLeak(transport) {
  const inner = transport._webStandardTransport;
  const map = inner?._streamMapping;
  if (!(map instanceof Map)) return;
  map.set = function set(key, value) {
    if (value && typeof value.resolveJson === 'function') {
      const resolve = value.resolveJson;
      value.resolveJson = (r) => {
        Map.prototype.delete.call(map, key);
        resolve(r);
      };
    }
    return Map.prototype.set.call(map, key, value);
  };
}

function newServer() {
  const server = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echo the input', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('secret_admin', { description: 'Not granted to the bench user', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: 'no' }],
  }));
  return server;
}

const http = createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString('utf8');
  const body = raw ? JSON.parse(raw) : undefined;
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports.get(sid) : undefined;
  if (!transport) {
    if (req.method !== 'POST' || !body || body.method !== 'initialize') {
      res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'No session' } }));
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
    patchJsonLeak(transport);
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
});
http.keepAliveTimeout = 60_000;
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY ${http.address().port}\n`);
});
