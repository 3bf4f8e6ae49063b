/**
 * The JWKS as a failure domain: unreachable, failing or slow key servers fail
 * closed (401, never accepted), and key rotation retires the old key.
 * Real local JWKS servers on 127.0.0.1:0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startGuardedApp, type Guarded } from '../helpers/external-auth.js';
import { deadUrl, makeKey, signToken, startJwksServer, type JwksServer, type TestKey } from '../helpers/jwks-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('security: JWKS failures and rotation', () => {
  let g: Guarded & { close(): Promise<void> };
  let failing: JwksServer;
  let slow: JwksServer;
  let rotating: JwksServer;
  let later: JwksServer;
  const key1 = makeKey('RS256', 'k-1');
  const key2 = makeKey('RS256', 'k-2');
  const key3 = makeKey('ES256', 'k-3');
  const tok = (iss: string, key: TestKey, sub = 'bob') => signToken(key, { iss, aud: 'portcullis', sub });
  const COOLDOWN_MS = 150;

  beforeAll(async () => {
    failing = await startJwksServer([key1]);
    slow = await startJwksServer([key1]);
    rotating = await startJwksServer([key1]);
    later = await startJwksServer([key3]);
    failing.setMode('error');
    slow.setMode('hang');
    const p = (name: string, jwks_uri: string, extra: Record<string, unknown> = {}) => ({
      type: 'jwt', name, issuer: `https://${name}.test`, audience: 'portcullis', algorithms: ['RS256', 'ES256'], jwks_uri, ...extra,
    });
    g = await startGuardedApp({
      config: {
        auth: {
          providers: [
            p('dead', await deadUrl()),
            p('failing', failing.url),
            p('slow', slow.url, { jwks_timeout: '300ms' }),
            p('rotating', rotating.url, { jwks_cooldown: `${COOLDOWN_MS}ms` }),
            p('stale', later.url, { jwks_cache_max_age: '200ms', jwks_cooldown: '50ms' }),
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await g.close();
    for (const s of [failing, slow, rotating, later]) await s.close();
  });

  it('an unreachable JWKS fails closed', async () => {
    await expectRefused(g, tok('https://dead.test', key1));
  });

  it('a JWKS answering HTTP 500 fails closed', async () => {
    await expectRefused(g, tok('https://failing.test', key1));
    expect(failing.requests.length).toBeGreaterThan(0);
  });

  it('a JWKS that never answers fails closed within jwks_timeout', async () => {
    const started = Date.now();
    await expectRefused(g, tok('https://slow.test', key1));
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('after a failed fetch the JWKS is not hammered by every request', async () => {
    const before = failing.requests.length;
    for (let i = 0; i < 5; i++) await expectRefused(g, tok('https://failing.test', key1, `x${i}`));
    expect(failing.requests.length - before).toBeLessThanOrEqual(1);
  });

  it('key rotation: new key accepted after the cooldown, old key refused once rotated out', async () => {
    const iss = 'https://rotating.test';
    const old = tok(iss, key1, 'carol');
    await expectAccepted(g.t, old);

    // overlap: both keys published; the new kid triggers one refresh after the cooldown
    rotating.setKeys([key1, key2]);
    await sleep(COOLDOWN_MS + 50);
    await expectAccepted(g.t, tok(iss, key2, 'dave'));
    await expectAccepted(g.t, old);

    // the old key is withdrawn and a newer one published: the first token with the newer kid
    // makes the gateway refresh; from then on the old key is gone, and tokens it had
    // verified and cached before are dropped too
    const key5 = makeKey('RS256', 'k-5');
    rotating.setKeys([key2, key5]);
    await sleep(COOLDOWN_MS + 50);
    await expectAccepted(g.t, tok(iss, key5, 'erin'));
    await expectRefused(g, old);
    await expectRefused(g, tok(iss, key1, 'grace'));
    await expectAccepted(g.t, tok(iss, key2, 'heidi'));
  });

  it('an expired JWKS cache is refreshed (cacheMaxAge) and a withdrawn key refused', async () => {
    const iss = 'https://stale.test';
    const t3 = tok(iss, key3, 'ivan');
    await expectAccepted(g.t, t3);
    later.setKeys([makeKey('ES256', 'k-4')]);
    await sleep(260);
    await expectRefused(g, tok(iss, key3, 'judy'));
    await expectRefused(g, t3);
  });
});
