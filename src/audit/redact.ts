/**
 * URLs in audit details: user-info (`user:pass@`) and the query string may
 * carry credentials (hosted MCP servers often take `?api_key=`), so both are
 * replaced; scheme, host, port and path stay.
 */
export function auditUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return '[invalid url]';
  }
  const auth = u.username || u.password ? '[redacted]@' : '';
  const query = u.search ? '?[redacted]' : '';
  return `${u.protocol}//${auth}${u.host}${u.pathname}${query}`;
}
