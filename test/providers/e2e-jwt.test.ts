/** A real JWT from a JWKS-backed issuer lists and calls tools through /mcp/{server} with its mapped groups' grants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exerciseProvider, startExternalE2e, type ExternalE2e } from '../helpers/external-e2e.js';
import { makeKey, signToken, startJwksServer, type JwksServer } from '../helpers/jwks-server.js';

describe('e2e: jwt provider through /mcp', () => {
  let e: ExternalE2e;
  let jwks: JwksServer;
  const key = makeKey('ES256', 'kc-2026');
  const iss = 'https://sso.example.test/realms/acme';
  beforeAll(async () => {
    jwks = await startJwksServer([key]);
    e = await startExternalE2e([
      {
        type: 'jwt', name: 'keycloak', issuer: iss, audience: 'portcullis', algorithms: ['ES256'], jwks_uri: jwks.url,
        claims: { role: 'realm_access.roles', groups: 'groups' },
      },
    ]);
  });
  afterAll(async () => {
    await e.close();
    await jwks.close();
  });

  it('grants follow the token groups; bad tokens never reach the upstream', async () => {
    const tok = (sub: string, groups: string[]) => signToken(key, { iss, aud: 'portcullis', sub, groups, realm_access: { roles: ['offline_access'] } });
    await exerciseProvider(e, { eng: tok('ada', ['eng']), reader: tok('bob', ['readers']), bad: signToken(makeKey('ES256', 'kc-2026'), { iss, aud: 'portcullis', sub: 'eve', groups: ['eng'] }) }, expect);
  });

  it('a token whose scope claim names only mcp:read can list but not call (403 insufficient_scope)', async () => {
    const token = signToken(key, { iss, aud: 'portcullis', sub: 'carol', groups: ['eng'], scope: 'openid mcp:read' });
    const client = await e.connect(token);
    expect((await client.listTools()).tools.map((x) => x.name).sort()).toEqual(['add', 'echo']);
    const before = e.upstream.methods().filter((m) => m === 'tools/call').length;
    await expect(client.callTool({ name: 'echo', arguments: { text: 'nope' } })).rejects.toThrow(/403|insufficient_scope/);
    expect(e.upstream.methods().filter((m) => m === 'tools/call').length).toBe(before);
  });
});
