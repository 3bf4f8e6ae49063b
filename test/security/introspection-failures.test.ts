/**
 * Introspection fails closed: an inactive token, an endpoint error, a timeout
 * or a malformed answer all end in 401, and errors are not cached.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectRefused, startGuardedApp, type Guarded } from '../helpers/external-auth.js';
import { startIntrospectionServer, type IntrospectionServer } from '../helpers/introspection-server.js';

describe('security: introspection failures', () => {
  let g: Guarded & { close(): Promise<void> };
  let idp: IntrospectionServer;
  const good = () => ({ active: true, sub: 'kim', scope: 'mcp', exp: Math.floor(Date.now() / 1000) + 600 });

  beforeAll(async () => {
    idp = await startIntrospectionServer();
    g = await startGuardedApp({
      env: { CID: 'gw', CSEC: 'introspection-client-secret' },
      config: {
        auth: {
          providers: [{ type: 'introspection', name: 'opaque', url: idp.url, client_id_env: 'CID', client_secret_env: 'CSEC', timeout: '300ms', required_scopes: ['mcp'] }],
        },
      },
    });
  });
  afterAll(async () => {
    await g.close();
    await idp.close();
  });
  afterEach(() => {
    idp.answer = () => ({ body: { active: false } });
  });

  it('control: an active token is accepted', async () => {
    idp.answer = () => ({ body: good() });
    expect((await expectAccepted(g.t, 'tok-control')).id).toBe('opaque:kim');
  });

  it('an inactive token (active:false) is refused', async () => {
    idp.answer = () => ({ body: { active: false } });
    await expectRefused(g, 'tok-inactive');
  });

  it('an introspection endpoint answering HTTP 500 fails closed and is not cached', async () => {
    idp.answer = () => ({ status: 500, body: { error: 'server_error' } });
    await expectRefused(g, 'tok-500');
    idp.answer = () => ({ body: good() });
    await expectAccepted(g.t, 'tok-500');
  });

  it('an introspection endpoint that never answers fails closed within the timeout', async () => {
    idp.answer = () => ({ hang: true });
    const started = Date.now();
    await expectRefused(g, 'tok-hang');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a malformed answer fails closed', async () => {
    idp.answer = () => ({ body: ['active', true] });
    await expectRefused(g, 'tok-malformed');
    idp.answer = () => ({ body: { active: 'true', sub: 'kim', scope: 'mcp' } });
    await expectRefused(g, 'tok-malformed-2');
  });

  it('an active answer without the required scopes is refused', async () => {
    idp.answer = () => ({ body: { ...good(), scope: 'openid' } });
    await expectRefused(g, 'tok-scope');
  });

  it('an active answer whose exp has passed is refused', async () => {
    idp.answer = () => ({ body: { ...good(), exp: Math.floor(Date.now() / 1000) - 5 } });
    await expectRefused(g, 'tok-stale', 'token_expired');
  });

  it('the token never appears in logs', async () => {
    idp.answer = () => ({ status: 500 });
    await expectRefused(g, 'tok-secret-value-xyz');
    expect(g.t.logs.join('\n')).not.toContain('tok-secret-value-xyz');
    expect(g.t.logs.join('\n')).not.toContain('introspection-client-secret');
  });
});
