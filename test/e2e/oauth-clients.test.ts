/**
 * End to end, as a person connects an MCP client to a fresh gateway
 * (SPEC §10): the official SDK client's OAuth support (`auth()` with an
 * `OAuthClientProvider`) discovers the gateway, registers (dynamic
 * registration) or names itself by a Client ID Metadata Document, sends the
 * person to the sign-in and consent pages — a real headless Chromium signs in
 * and presses Allow — redeems the code, lists only the tools the person's
 * groups grant and calls one. Also: the SDK's ClientCredentialsProvider with a
 * real service account, and the MCP Inspector CLI's own OAuth flow.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type OAuthClientInformationMixed, type OAuthClientMetadata, type OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { startHttpUpstream, type FixtureUpstream } from '../fixtures/mcp-upstreams.js';
import { bearer } from '../helpers/app.js';
import { launchBrowser, signInAndDecide, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { startOAuthGateway, type OAuthGateway } from '../helpers/oauth-gateway.js';

const PASSWORD = 'correct horse battery';

/** An MCP client's OAuth state, in memory: what the SDK asks a host application to keep. */
class MemoryProvider implements OAuthClientProvider {
  private info: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';
  lastAuthorizationUrl: URL | null = null;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    info?: OAuthClientInformationMixed,
  ) {
    this.info = info;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.lastAuthorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

describe('e2e: MCP clients connect through the authorization server', () => {
  let browser: Browser;
  let up: FixtureUpstream;
  let gw: OAuthGateway;
  let demo: string;
  let callback: CallbackServer;
  let docs: Server;
  let docUrl: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    up = await startHttpUpstream();
    callback = await startCallbackServer();
    docs = createServer((req, res) => {
      if (req.url !== '/mcp-client.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify({ client_id: docUrl, client_name: 'Document Client', redirect_uris: [callback.url], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' }));
    });
    await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
    docUrl = `http://127.0.0.1:${(docs.address() as AddressInfo).port}/mcp-client.json`;
    gw = await startOAuthGateway({
      servers: [{ name: 'demo', url: up.url }],
      groups: [{ name: 'eng', grants: [{ server: 'demo', tools: ['echo'], access_level: 'execute' }] }],
      auth: { authorization_server: { client_id_metadata_documents: { allow_loopback_http: true } } },
    });
    demo = `${gw.base}/mcp/demo`;
    await gw.t.store.users.create({ email: 'ann@example.com', passwordHash: await hashPassword(PASSWORD), role: 'user', groups: ['eng'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await up?.close();
    await callback?.close();
    docs?.closeAllConnections();
    await new Promise<void>((r) => docs?.close(() => r()));
  });

  /** SDK auth() → browser sign-in and Allow → auth() with the code → a connected SDK client. */
  async function connectWithBrowser(provider: MemoryProvider): Promise<Client> {
    expect(await auth(provider, { serverUrl: demo })).toBe('REDIRECT');
    const url = provider.lastAuthorizationUrl!;
    expect(url.origin + url.pathname).toBe(`${gw.base}/oauth/authorize`);
    expect(url.searchParams.get('resource')).toBe(demo);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const context = await browser.newContext();
    try {
      const landed = callback.next();
      await signInAndDecide(context, url.href, { email: 'ann@example.com', password: PASSWORD, gatewayOrigin: gw.base });
      const back = await landed;
      expect(back.searchParams.get('iss')).toBe(gw.base);
      expect(await auth(provider, { serverUrl: demo, authorizationCode: back.searchParams.get('code')! })).toBe('AUTHORIZED');
    } finally {
      await context.close();
    }
    const client = new Client({ name: 'e2e-oauth', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(demo), { authProvider: provider }));
    return client;
  }

  async function useTools(client: Client) {
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(['echo']);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'through OAuth' } });
    expect(r.content).toEqual([{ type: 'text', text: 'echo: through OAuth' }]);
    await client.close();
  }

  it('dynamic registration: the SDK registers, the person signs in and allows in Chromium, the SDK lists and calls the granted tool', async () => {
    const provider = new MemoryProvider(callback.url, { client_name: 'SDK DCR Client', redirect_uris: [callback.url], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
    up.reset();
    await useTools(await connectWithBrowser(provider));
    expect(String(provider.clientInformation()!.client_id)).toMatch(/^pco_/);
    expect(provider.tokens()!.scope).toBe('mcp:read mcp:execute');
    expect(up.toolCalls()).toEqual(['echo']);
    for (const s of up.seen) expect(s.headers.authorization).toBeUndefined();
  });

  it('Client ID Metadata Document: the client is named by a document the gateway fetches (served on 127.0.0.1)', async () => {
    // The SDK takes clientMetadataUrl only over https; a loopback document is handed to it as stored client information.
    const provider = new MemoryProvider(callback.url, { client_name: 'ignored', redirect_uris: [callback.url] }, { client_id: docUrl });
    await useTools(await connectWithBrowser(provider));
    const clients = (await gw.t.inject({ method: 'GET', url: '/api/v1/oauth/clients', headers: bearer(await adminToken()) })).json().clients;
    expect(clients.find((c: { client_id: string }) => c.client_id === docUrl)).toMatchObject({ source: 'metadata_document', client_name: 'Document Client' });
  });

  async function adminToken(): Promise<string> {
    if (!(await gw.t.store.users.byLogin('root@example.com')))
      await gw.t.store.users.create({ email: 'root@example.com', passwordHash: await hashPassword(PASSWORD), role: 'admin' });
    return (await gw.t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'root@example.com', password: PASSWORD } })).json().token;
  }

  it('client_credentials: the SDK ClientCredentialsProvider connects with a real service account', async () => {
    const sa = (await gw.t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(await adminToken()), payload: { name: 'robot', groups: ['eng'] } })).json();
    const provider = new ClientCredentialsProvider({ clientId: sa.client_id, clientSecret: sa.client_secret });
    const client = new Client({ name: 'e2e-m2m', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(demo), { authProvider: provider }));
    await useTools(client);
    expect(provider.tokens()!.access_token).toBeTruthy();
  });

  it('the MCP Inspector CLI runs its own OAuth flow (registration, loopback callback) headless, and lists the granted tools', { timeout: 120_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'pcl-inspector-'));
    const port = (await startCallbackServer().then(async (s) => {
      const p = Number(new URL(s.url).port);
      await s.close();
      return p;
    })) as number;
    try {
      const env: Record<string, string> = { PATH: process.env.PATH!, HOME: home, NO_COLOR: '1', MCP_AUTO_OPEN_ENABLED: 'true', BROWSER: 'true' };
      const child = spawn('npx', ['--no', '--', 'mcp-inspector', '--cli', '--callback-url', `http://127.0.0.1:${port}/oauth/callback`, '--method', 'tools/list', '--transport', 'http', demo], {
        env, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      const authUrl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no authorization URL from the Inspector:\n${stderr}`)), 60_000);
        child.stderr.on('data', (d) => {
          stderr += d;
          const m = /Please navigate to: (\S+)/.exec(stderr);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.once('close', () => reject(new Error(`the Inspector exited:\n${stderr}`)));
      });
      const context = await browser.newContext();
      await signInAndDecide(context, authUrl, { email: 'ann@example.com', password: PASSWORD, gatewayOrigin: gw.base });
      await context.close();
      const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('close', r)));
      expect(code, stderr).toBe(0);
      expect(JSON.parse(stdout).tools.map((t: { name: string }) => t.name)).toEqual(['echo']);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
