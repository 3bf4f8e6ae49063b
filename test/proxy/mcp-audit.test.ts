/**
 * The one place that writes the audit events and metrics of MCP requests
 * (McpAudit), and the audit queue's reservations behind "every MCP message is
 * audited or refused".
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { type AuditEvent } from '../../src/audit/types.js';
import { createLogger } from '../../src/lib/logger.js';
import { McpAudit } from '../../src/proxy/mcp-audit.js';
import { type Store } from '../../src/store/index.js';

const caller = { id: 'u-1', type: 'user' as const, tokenId: 't-1', method: 'api_token', role: 'user' as const, groups: [], scopes: null, servers: null };

/** An AuditLog over a store that records what it would write. */
function auditLog(queueSize: number) {
  const written: AuditEvent[] = [];
  const store = { audit: { insertMany: async (b: AuditEvent[]) => void written.push(...b) } } as unknown as Store;
  const log = new AuditLog(store, createLogger('silent'), { enabled: true, stdout: false, queueSize, flushIntervalMs: 3_600_000 });
  return { log, written };
}

describe('audit queue reservations', () => {
  it('held places are never dropped; unheld events are dropped once the free places are held', async () => {
    const { log, written } = auditLog(100);
    expect(log.reserve(60)).toBe(true);
    expect(log.reserve(41)).toBe(false); // 60 held + 41 > 100
    expect(log.reserve(40)).toBe(true);
    log.record({ action: 'auth.login' }); // nothing free: dropped
    expect(log.dropped).toBe(1);
    for (let i = 0; i < 100; i++) log.record({ action: 'mcp.request', actor: `m${i}` }, true);
    expect(log.dropped).toBe(1);
    await log.flush();
    expect(written.filter((e) => e.action === 'mcp.request')).toHaveLength(100);
  });

  it('release gives places back', () => {
    const { log } = auditLog(100);
    expect(log.reserve(100)).toBe(true);
    expect(log.reserve(1)).toBe(false);
    log.release(30);
    expect(log.reserve(30)).toBe(true);
  });
});

describe('McpAudit', () => {
  it('writes one event per message with the decision and status, on held places, and gives back places not used', async () => {
    const { log, written } = auditLog(100);
    const results: unknown[][] = [];
    const audit = new McpAudit(log, { mcpResult: (...a) => void results.push(a), observeUpstream() {} }, (n) => n === 'demo');
    const rec = audit.begin(caller, 'demo', '192.0.2.1');
    rec.reserve(3);
    rec.addAction('tools/call', { kind: 'tool', server: 'demo', method: 'tools/call', name: 'echo' }, true);
    rec.addAction('resources/read', { kind: 'resource', server: 'demo', method: 'resources/read', uri: 'secret://k', level: 'execute' }, false);
    rec.finish(200);
    expect(log.reserve(100)).toBe(false); // 2 events queued
    expect(log.reserve(98)).toBe(true); // the third place was given back
    log.release(98);
    await log.flush();
    expect(written).toEqual([
      expect.objectContaining({ action: 'mcp.request', actor: 'u-1', actorType: 'user', tokenId: 't-1', server: 'demo', method: 'tools/call', tool: 'echo', decision: 'allow', status: 200, ip: '192.0.2.1' }),
      expect.objectContaining({ method: 'resources/read', tool: null, decision: 'deny', detail: { uri: 'secret://k' } }),
    ]);
    expect(results).toEqual([
      ['demo', 'tools/call', 'allow', 200],
      ['demo', 'resources/read', 'deny', 200],
    ]);
  });

  it('a request refused before any message was read is one event; a batch the queue cannot take is refused with 413', async () => {
    const { log, written } = auditLog(100);
    const audit = new McpAudit(log, undefined, () => true);
    const rec = audit.begin(caller, 'demo', null);
    expect(() => rec.reserve(101)).toThrow(expect.objectContaining({ code: 'batch_too_large', status: 413 }));
    rec.finish(413);
    await log.flush();
    expect(written).toEqual([expect.objectContaining({ method: null, decision: null, status: 413 })]);
  });

  it('an unauthenticated request: an anonymous deny event, counted as unauthenticated under a known server label only', async () => {
    const { log, written } = auditLog(100);
    const results: unknown[][] = [];
    const audit = new McpAudit(log, { mcpResult: (...a) => void results.push(a), observeUpstream() {} }, (n) => n === 'demo');
    audit.unauthenticated('demo', '192.0.2.9', 'invalid_token');
    audit.unauthenticated('not-configured', null, 'unauthenticated');
    await log.flush();
    expect(written).toEqual([
      expect.objectContaining({ action: 'mcp.request', actorType: 'anonymous', server: 'demo', decision: 'deny', status: 401, ip: '192.0.2.9', detail: { code: 'invalid_token' } }),
      expect.objectContaining({ server: 'not-configured', status: 401 }),
    ]);
    expect(results).toEqual([
      ['demo', null, null, 401],
      [null, null, null, 401],
    ]);
  });
});
