/**
 * A gateway listening on a real port whose `server.public_url` is that very
 * URL (the authorization server's issuer and the resources must be what
 * clients reach), with a real SDK MCP server upstream.
 */
import { startTestApp, type TestApp } from './app.js';
import { type Backend } from './db.js';
import { freePort } from './oauth.js';

export interface OAuthGateway {
  t: TestApp;
  /** http://127.0.0.1:PORT — also the issuer. */
  base: string;
  close(): Promise<void>;
}

export async function startOAuthGateway(config: Record<string, unknown>, opts: { backend?: Backend; env?: Record<string, string> } = {}): Promise<OAuthGateway> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = { ...(config.server as object), host: '127.0.0.1', port, public_url: base };
    const t = await startTestApp({ config: { ...config, server }, backend: opts.backend, env: opts.env });
    try {
      await t.app.http.listen({ host: '127.0.0.1', port });
      return { t, base, close: () => t.close() };
    } catch (e) {
      await t.close();
      if (attempt >= 3) throw e;
    }
  }
}
