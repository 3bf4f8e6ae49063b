/**
 * mTLS on the MCP endpoint: a verified, allowed client certificate lists and
 * calls tools through /mcp/{server} with its provider's group grants; a
 * certificate that is foreign, revoked or outside allowed_subjects, or a
 * header pretending to carry one, gets 401 and the upstream receives nothing.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestUpstream, type TestUpstream } from '../fixtures/inspector-upstream.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestPki, type IssuedCert, type TestPki } from '../helpers/certs.js';
import { E2E_GROUPS } from '../helpers/external-e2e.js';
import { httpsRequest } from '../helpers/https-client.js';

const ids = { eng: '/O=Acme/CN=client-001', reader: '/CN=reader-dash', revoked: '/CN=client-revoked', disallowed: '/CN=intruder' };

describe('security: client certificates on /mcp/{server}', () => {
  let pki: TestPki;
  let upstream: TestUpstream;
  let t: TestApp;
  let base: string;
  const agents: Agent[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    pki = createTestPki({ clients: Object.values(ids), revoked: [ids.revoked], untrustedClients: [ids.eng] });
    upstream = await startTestUpstream();
    t = await startTestApp({
      config: {
        server: { tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_auth: 'request', client_ca_file: pki.caFile, crl_file: pki.crlFile } },
        auth: {
          providers: [
            { type: 'mtls', name: 'services', allowed_subjects: ['CN=client-*'], groups: ['eng'] },
            { type: 'mtls', name: 'dashboards', allowed_subjects: ['CN=reader-*'], groups: ['readers'] },
          ],
        },
        servers: [{ name: 'demo', url: upstream.url }],
        groups: E2E_GROUPS,
      },
    });
    base = await t.app.http.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const a of agents) await a.close();
    await t.close();
    await upstream.close();
    pki.cleanup();
  });

  /** The official SDK client over HTTPS, presenting `cert`. */
  async function connect(cert: IssuedCert): Promise<Client> {
    const agent = new Agent({ connect: { ca: pki.ca, cert: cert.cert, key: cert.key, servername: 'localhost' } });
    agents.push(agent);
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/demo`), {
      fetch: ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: agent })) as never,
    });
    const client = new Client({ name: 'mtls-e2e', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return client;
  }

  const toolsList = (c?: IssuedCert, headers: Record<string, string> = {}) =>
    httpsRequest(base, {
      method: 'POST',
      path: '/mcp/demo',
      ca: pki.ca,
      cert: c?.cert,
      key: c?.key,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });

  it("an allowed certificate lists and calls tools with its provider's group grants", async () => {
    // Every request is served by node:http over TLS, with the handshake's peer certificate.
    const served = { posts: 0, gets: 0 };
    const count = (req: import('node:http').IncomingMessage) => {
      if (!(req.socket as import('node:tls').TLSSocket).encrypted) return;
      if (req.method === 'POST') served.posts++;
      if (req.method === 'GET') served.gets++;
    };
    t.app.http.server.on('request', count);
    const eng = await connect(pki.client(ids.eng));
    expect((await eng.listTools()).tools.map((x) => x.name).sort()).toEqual(['add', 'echo']);
    const r = await eng.callTool({ name: 'echo', arguments: { text: 'over mTLS' } });
    expect(r.content).toEqual([{ type: 'text', text: 'over mTLS' }]);
    const calls = () => upstream.requests.filter((q) => (q.body as { params?: { name?: string } })?.params?.name === 'secret_admin');
    await expect(eng.callTool({ name: 'secret_admin', arguments: {} })).rejects.toMatchObject({ code: -32003 });
    expect(calls()).toEqual([]);

    const reader = await connect(pki.client(ids.reader));
    expect((await reader.listTools()).tools.map((x) => x.name).sort()).toEqual(['add', 'echo', 'secret_admin', 'whoami']);
    const before = upstream.requests.length;
    await expect(reader.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32003 });
    expect(upstream.requests.length).toBe(before);
    t.app.http.server.off('request', count);
    expect(served.posts).toBeGreaterThanOrEqual(8);
    // The SDK's GET event streams went over the same TLS listener.
    expect(served.gets).toBeGreaterThanOrEqual(1);
  });

  for (const [what, cert, detail] of [
    ['a certificate with a disallowed subject', () => pki.client(ids.disallowed), /not allowed/],
    ['a revoked certificate', () => pki.client(ids.revoked), /could not be verified/],
    ['a certificate from another CA (same subject as an allowed one)', () => pki.untrustedClient(ids.eng), /could not be verified/],
  ] as const) {
    it(`${what} gets 401 invalid_token with the resource challenge; nothing reaches the upstream`, async () => {
      const seen = upstream.requests.length;
      const r = await toolsList(cert());
      expect(r.status).toBe(401);
      // errors on /mcp are JSON-RPC bodies carrying the registry code
      expect(r.json().error.data.code).toBe('invalid_token');
      expect(r.json().error.message).toMatch(detail);
      const challenge = String(r.headers['www-authenticate']);
      expect(challenge).toMatch(/^Bearer /);
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toMatch(/resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp\/demo"/);
      expect(upstream.requests.length).toBe(seen);
    });
  }

  it('headers claiming a client certificate are ignored on /mcp', async () => {
    const seen = upstream.requests.length;
    const r = await toolsList(undefined, {
      'X-SSL-Client-DN': 'CN=client-001,O=Acme',
      'X-SSL-Client-Verify': 'SUCCESS',
      'X-Client-Cert': encodeURIComponent(pki.client(ids.eng).cert),
      'X-Forwarded-Client-Cert': 'Subject="CN=client-001,O=Acme"',
    });
    expect(r.status).toBe(401);
    expect(r.json().error.data.code).toBe('unauthenticated');
    expect(upstream.requests.length).toBe(seen);
  });
});
