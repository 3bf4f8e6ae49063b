/** An opaque token checked by RFC 7662 introspection lists and calls tools through /mcp/{server} with its mapped groups' grants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exerciseProvider, startExternalE2e, type ExternalE2e } from '../helpers/external-e2e.js';
import { startIntrospectionServer, type IntrospectionServer } from '../helpers/introspection-server.js';

describe('e2e: introspection provider through /mcp', () => {
  let e: ExternalE2e;
  let idp: IntrospectionServer;
  beforeAll(async () => {
    idp = await startIntrospectionServer();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const known: Record<string, unknown> = {
      'opaque-eng-7f3a9c': { active: true, sub: 'ada', scope: 'mcp', groups: ['eng'], exp },
      'opaque-reader-2b8e': { active: true, sub: 'bob', scope: 'mcp', groups: ['readers'], exp },
    };
    idp.answer = (tok) => ({ body: known[tok] ?? { active: false } });
    e = await startExternalE2e(
      [{ type: 'introspection', name: 'corp-opaque', url: idp.url, client_id_env: 'CID', client_secret_env: 'CSEC', required_scopes: ['mcp'], claims: { groups: 'groups' } }],
      { CID: 'portcullis', CSEC: 'introspection-secret-for-e2e' },
    );
  });
  afterAll(async () => {
    await e.close();
    await idp.close();
  });

  it('grants follow the introspected groups; inactive tokens never reach the upstream', async () => {
    await exerciseProvider(e, { eng: 'opaque-eng-7f3a9c', reader: 'opaque-reader-2b8e', bad: 'opaque-revoked-0000' }, expect);
  });
});
