/** MCP session rows: written once, touched in batches, pruned when unused. The same suite on every backend. */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Store } from '../../src/store/index.js';
import { BACKENDS } from '../helpers/db.js';
import { useTestStore } from '../helpers/store.js';

describe.each(BACKENDS)('mcp sessions store on %s', (backend) => {
  const t = useTestStore(backend);
  let s: Store;
  beforeAll(async () => {
    s = t.store;
  });

  it('deleteStale removes rows not seen since the cut-off and keeps touched ones', async () => {
    await s.mcpSessions.insert({ id: 'old', server: 'demo', principalId: 'u1', upstreamSessionId: 'up-1', replica: null });
    await s.mcpSessions.insert({ id: 'used', server: 'demo', principalId: 'u1', upstreamSessionId: 'up-2', replica: null });
    const later = new Date(Date.now() + 60_000).toISOString();
    await s.mcpSessions.touch(['used'], new Date(Date.now() + 120_000).toISOString());
    expect(await s.mcpSessions.deleteStale(later)).toBe(1);
    expect(await s.mcpSessions.get('old')).toBeUndefined();
    expect((await s.mcpSessions.get('used'))?.principalId).toBe('u1');
  });
});
