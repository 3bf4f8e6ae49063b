/**
 * A real browser for the sign-in and consent pages: Debian's Chromium driven
 * by playwright-core (one browser per test file; a context per person), and a
 * loopback callback server standing in for an OAuth client's redirect URI.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Where the browser lands after the authorization server redirects back: resolves each redirect's URL. */
export interface CallbackServer {
  /** http://127.0.0.1:PORT/callback */
  url: string;
  /** The next redirect that arrives. */
  next(): Promise<URL>;
  close(): Promise<void>;
}

export async function startCallbackServer(path = '/callback'): Promise<CallbackServer> {
  const waiting: ((u: URL) => void)[] = [];
  const arrived: URL[] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    const full = new URL(req.url!, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const w = waiting.shift();
    if (w) w(full);
    else arrived.push(full);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You may close this page.');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    next: () => (arrived.length ? Promise.resolve(arrived.shift()!) : new Promise((r) => waiting.push(r))),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Open an authorization URL as a person would: sign in with the form's
 * Email and Password fields when asked, then press Allow (or Deny) on the
 * consent page when it is shown. Returns once the browser left the gateway.
 */
export async function signInAndDecide(
  context: BrowserContext,
  authorizationUrl: string,
  p: { email: string; password: string; decision?: 'Allow' | 'Deny'; gatewayOrigin: string },
): Promise<void> {
  const page = await context.newPage();
  try {
    await page.goto(authorizationUrl);
    if (page.url().includes('/login')) {
      await page.getByLabel('Email').fill(p.email);
      await page.getByLabel('Password').fill(p.password);
      await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/login')), page.getByRole('button', { name: 'Sign in' }).click()]);
    }
    if (new URL(page.url()).origin === p.gatewayOrigin) {
      await Promise.all([page.waitForURL((u) => u.origin !== p.gatewayOrigin), page.getByRole('button', { name: p.decision ?? 'Allow' }).click()]);
    }
  } finally {
    await page.close();
  }
}
