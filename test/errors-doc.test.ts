/**
 * docs/errors.md and src/errors/codes.ts list the same codes, with the same
 * HTTP status and JSON-RPC mapping. Formatting (spacing, order, wording of the
 * meaning) is free; a missing or extra code is not.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GatewayError, toJsonRpc, toProblem, type ErrorCode } from '../src/errors/index.js';

const DOC = new URL('../docs/errors.md', import.meta.url);

interface Row {
  status: number;
  jsonrpc: number;
  meaning: string;
}

/** Table rows that start with a backticked code: | `code` | status | meaning | json-rpc ... | */
function documentedCodes(): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\s*\|\s*`([a-z0-9_]+)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*(-?\d+)\b[^|]*\|\s*$/.exec(line);
    if (!m) continue;
    if (rows.has(m[1])) throw new Error(`docs/errors.md lists ${m[1]} twice`);
    rows.set(m[1], { status: Number(m[2]), meaning: m[3].trim(), jsonrpc: Number(m[4]) });
  }
  return rows;
}

const rpcCode = (code: ErrorCode) => toJsonRpc(new GatewayError(code)).error.code;
const expectedRow = (code: ErrorCode) => `| \`${code}\` | ${ERROR_CODES[code].status} | ${ERROR_CODES[code].doc} | ${rpcCode(code)} |`;

describe('docs/errors.md matches the error registry', () => {
  const doc = documentedCodes();
  const registry = Object.keys(ERROR_CODES) as ErrorCode[];

  it('the doc table parses', () => {
    expect(doc.size).toBeGreaterThan(10);
  });

  it('every registry code is documented', () => {
    const missing = registry.filter((c) => !doc.has(c));
    expect(missing.map(expectedRow), 'add these rows to docs/errors.md').toEqual([]);
  });

  it('every documented code exists in the registry', () => {
    const extra = [...doc.keys()].filter((c) => !(c in ERROR_CODES));
    expect(extra, 'documented in docs/errors.md but not in src/errors/codes.ts').toEqual([]);
  });

  it('documented HTTP status and JSON-RPC code match the implementation', () => {
    const wrong = registry
      .filter((c) => doc.has(c))
      .filter((c) => doc.get(c)!.status !== ERROR_CODES[c].status || doc.get(c)!.jsonrpc !== rpcCode(c))
      .map(expectedRow);
    expect(wrong, 'fix these rows in docs/errors.md').toEqual([]);
  });

  it('every documented code has a meaning', () => {
    expect([...doc].filter(([, r]) => r.meaning.length < 5).map(([c]) => c)).toEqual([]);
  });
});

describe('error mappers', () => {
  it('a 5xx problem never carries internal details', () => {
    const secret = 'connection to postgres://app:hunter2@db failed';
    const p = toProblem(new GatewayError('internal_error', { detail: secret, internal: new Error(secret) }));
    expect(p).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, code: 'internal_error' });
    const rpc = toJsonRpc(new GatewayError('internal_error', { detail: secret, internal: new Error(secret) }), 7);
    expect(JSON.stringify(rpc)).not.toContain('hunter2');
    expect(rpc).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32603, message: 'Internal error', data: { code: 'internal_error' } } });
  });

  it('client errors are never mapped to JSON-RPC internal error', () => {
    for (const c of Object.keys(ERROR_CODES) as ErrorCode[]) {
      if (ERROR_CODES[c].status < 500) expect(rpcCode(c), c).not.toBe(-32603);
    }
  });

  it('4xx problems carry detail and field errors', () => {
    const p = toProblem(new GatewayError('validation_failed', { detail: 'Invalid email', errors: [{ field: 'email', message: 'must be an email address' }] }));
    expect(p).toEqual({
      type: 'about:blank',
      title: 'Unprocessable Content',
      status: 422,
      code: 'validation_failed',
      detail: 'Invalid email',
      errors: [{ field: 'email', message: 'must be an email address' }],
    });
  });
});
