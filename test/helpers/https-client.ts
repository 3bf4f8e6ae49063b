import { request } from 'node:https';
import { type SecureVersion } from 'node:tls';

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

export interface HttpsRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Trusted CA for the server certificate. */
  ca: string;
  cert?: string;
  key?: string;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
}

/**
 * One HTTPS request over a fresh connection (no agent, no session reuse), so
 * each call performs its own handshake with the given client certificate.
 * Rejects on a TLS/handshake error.
 */
export function httpsRequest(baseUrl: string, r: HttpsRequest): Promise<HttpsResult> {
  const u = new URL(r.path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: r.method ?? 'GET',
        headers: r.headers,
        ca: r.ca,
        cert: r.cert,
        key: r.key,
        minVersion: r.minVersion,
        maxVersion: r.maxVersion,
        agent: false,
        servername: 'localhost',
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}
