/** A static token lists and calls tools through /mcp/{server} with its configured groups' grants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exerciseProvider, startExternalE2e, type ExternalE2e } from '../helpers/external-e2e.js';

const ENG = 'static-eng-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const READER = 'static-reader-token-a1b2c3d4e5f60718293a4b5c6d7e8f90';

describe('e2e: static provider through /mcp', () => {
  let e: ExternalE2e;
  beforeAll(async () => {
    e = await startExternalE2e(
      [{ type: 'static', name: 'dev', tokens: [{ name: 'ci', token_env: 'ENG_TOKEN', groups: ['eng'] }, { name: 'dash', token_env: 'READER_TOKEN', groups: ['readers'] }] }],
      { ENG_TOKEN: ENG, READER_TOKEN: READER },
    );
  });
  afterAll(async () => e.close());

  it('grants follow the configured groups; a wrong-length token never reaches the upstream', async () => {
    await exerciseProvider(e, { eng: ENG, reader: READER, bad: ENG.slice(0, -1) }, expect);
  });
});
