/**
 * The interface between the HTTP layer and the proxy: one authenticated MCP
 * request in, one response out. Framework-free (plain values, a Readable for
 * streamed bodies).
 */
import { type IncomingHttpHeaders } from 'node:http';
import { type Readable } from 'node:stream';
import { type PolicySubject } from '../policy/index.js';

/** The authenticated caller (a structural subset of auth's Principal). */
export interface ProxyCaller extends PolicySubject {
  id: string;
  type: 'user' | 'service_account' | 'external';
  tokenId: string | null;
  method: string;
}

export interface ProxyRequest {
  server: string;
  caller: ProxyCaller;
  headers: IncomingHttpHeaders;
  body: Buffer | null;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  ip: string | null;
}

export interface ProxyResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | Readable | null;
}

export interface ProxyLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json' };

/** A gateway-made JSON response. */
export const jsonResponse = (status: number, value: unknown, headers: Record<string, string> = {}): ProxyResponse => ({
  status,
  headers: { ...headers, ...JSON_HEADERS },
  body: Buffer.from(JSON.stringify(value)),
});

/** The first value of a request header. */
export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}
