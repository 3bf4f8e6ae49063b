import { describe, expect, it } from 'vitest';
import { JsonDepthError, MAX_JSON_DEPTH, parseJson, withinDepth } from '../../src/lib/json.js';

describe('parseJson (bounded depth)', () => {
  it('parses ordinary JSON as JSON.parse does', () => {
    const v = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { a: [1, { b: '[[[' }] } } };
    expect(parseJson(JSON.stringify(v))).toEqual(v);
    expect(parseJson(Buffer.from('[1,2]'))).toEqual([1, 2]);
  });

  it('accepts nesting up to the bound and refuses one level more', () => {
    const at = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    expect(withinDepth(at)).toBe(true);
    const over = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
    expect(() => parseJson(over)).toThrow(JsonDepthError);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const s = JSON.stringify({ s: '\\"' + '['.repeat(1000) + '{'.repeat(1000) });
    expect(withinDepth(s, 2)).toBe(true);
    expect(parseJson(s, 2)).toEqual(JSON.parse(s));
  });

  it('refuses three megabytes of [ before JSON.parse sees them', () => {
    expect(() => parseJson('['.repeat(3_000_000))).toThrow(JsonDepthError);
  });

  it('still reports malformed JSON as a SyntaxError', () => {
    expect(() => parseJson('{"a":')).toThrow(SyntaxError);
  });
});
