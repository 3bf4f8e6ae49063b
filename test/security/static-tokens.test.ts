/**
 * Static tokens: only the exact configured token authenticates; prefixes,
 * extensions and near misses are refused.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startGuardedApp, type Guarded } from '../helpers/external-auth.js';

const CI_TOKEN = 'ci-bot-token-5f2b8c1e9a7d4036b1e2c3d4e5f60718';
const HASHED_TOKEN = 'ops-token-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d';

describe('security: static tokens', () => {
  let g: Guarded & { close(): Promise<void> };
  beforeAll(async () => {
    g = await startGuardedApp({
      env: { CI_BOT_TOKEN: CI_TOKEN },
      config: {
        auth: {
          providers: [
            {
              type: 'static', name: 'dev',
              tokens: [
                { name: 'ci-bot', token_env: 'CI_BOT_TOKEN', role: 'user', groups: ['ci'] },
                { name: 'ops', token_sha256: createHash('sha256').update(HASHED_TOKEN).digest('hex'), role: 'viewer', groups: ['ops', 'eng'] },
              ],
            },
          ],
        },
      },
    });
  });
  afterAll(async () => g.close());

  it('control: the configured tokens authenticate with their role and groups', async () => {
    expect(await expectAccepted(g.t, CI_TOKEN)).toMatchObject({ id: 'dev:ci-bot', role: 'user', groups: ['ci'], auth: { method: 'static', provider: 'dev' } });
    expect(await expectAccepted(g.t, HASHED_TOKEN)).toMatchObject({ id: 'dev:ops', role: 'viewer', groups: ['ops', 'eng'] });
  });

  it('a static token of the wrong length is refused', async () => {
    await expectRefused(g, CI_TOKEN.slice(0, -1));
    await expectRefused(g, CI_TOKEN + '0');
    await expectRefused(g, CI_TOKEN.slice(0, 8));
  });

  it('a static token differing in one character is refused', async () => {
    await expectRefused(g, CI_TOKEN.slice(0, -1) + (CI_TOKEN.endsWith('8') ? '9' : '8'));
  });

  it('the stored hash itself is not a token', async () => {
    await expectRefused(g, createHash('sha256').update(HASHED_TOKEN).digest('hex'));
  });

  it('a static token is refused in X-API-Key (API tokens only)', async () => {
    const r = await g.t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': CI_TOKEN } });
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('invalid_token');
  });

  it('static tokens never appear in logs', async () => {
    await expectAccepted(g.t, CI_TOKEN);
    expect(g.t.logs.join('\n')).not.toContain(CI_TOKEN);
  });
});
