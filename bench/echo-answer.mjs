// The echo "MCP server"'s answers, shared by the raw HTTP upstream (upstream-echo.mjs) and the
// stdio one (upstream-stdio.mjs): initialize, tools/list, tools/call echo; null for notifications.
export const TOOLS = { tools: [{ name: 'echo', inputSchema: { type: 'object' } }, { name: 'secret_admin', inputSchema: { type: 'object' } }] };

export function answer(msg) {
  if (msg.id === undefined) return null;
  switch (msg.method) {
    case 'initialize':
      return { jsonrpc: '2.0', id: msg.id, result: { protocolVersion: msg.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'echo', version: '1' } } };
    case 'tools/list':
      return { jsonrpc: '2.0', id: msg.id, result: TOOLS };
    case 'tools/call':
      return { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: String(msg.params?.arguments?.text ?? '') }] } };
    default:
      return { jsonrpc: '2.0', id: msg.id, result: {} };
  }
}
