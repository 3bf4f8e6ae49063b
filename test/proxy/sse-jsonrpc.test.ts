import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LIST_KEYS } from '../../src/proxy/reply-check.js';
import { parseMcpBody } from '../../src/proxy/jsonrpc.js';
import { type Expected, type ReplyPlan } from '../../src/proxy/reply-check.js';
import { relaySseBody, SseRelay } from '../../src/proxy/sse-relay.js';
import { formatSseEvent, SseParser } from '../../src/proxy/sse.js';
import { GatewayError, toGatewayError } from '../../src/errors/index.js';
import { type JsonRpcResponse } from '../../src/proxy/jsonrpc.js';

/** A reply plan as the proxy builds one: `lists` maps request ids to list methods; `byShape` is a GET stream. */
function replyPlan(o: { visibility: ReplyPlan['visibility']; lists?: Map<string | number, string>; byShape?: boolean; gatewayReplies?: JsonRpcResponse[] }): ReplyPlan {
  const pending = new Map<string | number, Expected>();
  for (const [id, method] of o.lists ?? []) pending.set(id, { method, list: LIST_KEYS[method] });
  return { mode: o.byShape ? 'stream' : 'post', pending, visibility: o.visibility, tasks: null, gatewayReplies: o.gatewayReplies ?? [] };
}
const silent = { debug() {} };

describe('SSE parser', () => {
  it('parses events split at arbitrary byte boundaries, with CRLF, CR and LF line ends', () => {
    const text = 'event: message\r\nid: 7\r\ndata: {"a":1}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n\nretry: 50\rdata: x\r\r';
    const bytes = Buffer.from(text);
    for (const step of [1, 2, 3, 7, bytes.length]) {
      const p = new SseParser();
      const events = [];
      for (let i = 0; i < bytes.length; i += step) events.push(...p.push(bytes.subarray(i, i + step)));
      expect(events.map((e) => ({ event: e.event, id: e.id, data: e.data, retry: e.retry }))).toEqual([
        { event: 'message', id: '7', data: '{"a":1}', retry: undefined },
        { event: undefined, id: undefined, data: undefined, retry: undefined },
        { event: undefined, id: undefined, data: 'line1\nline2', retry: undefined },
        { event: undefined, id: undefined, data: 'x', retry: 50 },
      ]);
    }
  });

  it('keeps multi-byte UTF-8 characters split across chunks intact', () => {
    const b = Buffer.from('data: héllo ✓\n\n');
    const p = new SseParser();
    const out = [...p.push(b.subarray(0, 8)), ...p.push(b.subarray(8, 16)), ...p.push(b.subarray(16))];
    expect(out[0].data).toBe('héllo ✓');
  });

  it('formats multi-line data as several data lines', () => {
    expect(formatSseEvent({ event: 'message', id: '1', data: 'a\nb' })).toBe('event: message\nid: 1\ndata: a\ndata: b\n\n');
  });
});

describe('SSE rewriting of list results', () => {
  const vis = { all: false, tool: (n: string) => n === 'ok', resource: () => true, template: () => true, prompt: () => true };
  async function run(input: string[], plan: { lists?: Map<string | number, string>; byShape?: boolean; gatewayReplies?: JsonRpcResponse[] } = {}) {
    const source = new PassThrough();
    const rw = new SseRelay(source, replyPlan({ visibility: vis, lists: new Map([[1, 'tools/list']]), ...plan }), 'demo', silent, toGatewayError);
    const chunks: string[] = [];
    rw.on('data', (c) => chunks.push(String(c)));
    const done = new Promise((r) => rw.on('end', r));
    for (const c of input) source.write(Buffer.from(c));
    source.end();
    await done;
    return chunks.join('');
  }

  it('filters only the tracked list response and relays every other event unchanged', async () => {
    const list = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'ok' }, { name: 'hidden' }] } });
    const note = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"hidden"}}';
    const out = await run([note + '\n\n', `id: 5\nevent: message\ndata: ${list.slice(0, 20)}`, `${list.slice(20)}\n\n`]);
    expect(out.startsWith(note + '\n\n')).toBe(true);
    expect(out).toContain('id: 5\n');
    expect(out).not.toContain('"name":"hidden"');
    expect(out).toContain('"name":"ok"');
  });

  it('emits gateway replies first', async () => {
    const note = 'data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}';
    const out = await run([note + '\n\n'], { gatewayReplies: [{ jsonrpc: '2.0', id: 9, error: { code: -32003, message: 'denied' } }] });
    expect(out.indexOf('"id":9')).toBeLessThan(out.indexOf(note));
  });

  it('by shape: filters any list-shaped response (GET streams)', async () => {
    const list = JSON.stringify({ jsonrpc: '2.0', id: 'x', result: { tools: [{ name: 'hidden' }] } });
    const out = await run([`data: ${list}\n\n`], { lists: new Map(), byShape: true });
    expect(out).not.toContain('hidden');
  });
});

describe('SSE rewriting of a whole body (channel-backed POST replies)', () => {
  const vis = { all: false, tool: (n: string) => n === 'ok', resource: () => true, template: () => true, prompt: () => true };
  const plan = (p: { gatewayReplies?: JsonRpcResponse[] } = {}) => replyPlan({ visibility: vis, lists: new Map([[1, 'tools/list']]), ...p });
  const list = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'ok' }, { name: 'hidden' }] } });
  const note = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"hidden"}}';

  it('filters the tracked list response, relays other events byte for byte, gateway replies first', () => {
    const out = relaySseBody(Buffer.from(`${note}\n\nevent: message\ndata: ${list}\n\n`), plan({ gatewayReplies: [{ jsonrpc: '2.0', id: 9, error: { code: -32003, message: 'denied' } }] }), 'demo').toString();
    expect(out.indexOf('"id":9')).toBeLessThan(out.indexOf(note));
    expect(out).toContain(note + '\n\n');
    expect(out).toContain('"name":"ok"');
    expect(out).not.toContain('"name":"hidden"');
  });

  it('drops an unterminated trailing event (never relayed unread); a complete one is relayed filtered', () => {
    const out = relaySseBody(Buffer.from(`event: message\ndata: ${list}`), plan(), 'demo').toString();
    expect(out).toBe('');
    const whole = relaySseBody(Buffer.from(`data: ${list}\n\n`), plan(), 'demo').toString();
    expect(JSON.parse(whole.replace(/^data: /, ''))).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'ok' }] } });
  });
});

describe('JSON-RPC body parsing', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as GatewayError).code;
    }
    return 'ok';
  };
  it('accepts requests, notifications, responses and batches', () => {
    expect(parseMcpBody('{"jsonrpc":"2.0","id":1,"method":"ping"}').batch).toBe(false);
    expect(parseMcpBody('[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","result":{}}]').messages).toHaveLength(2);
  });
  it('refuses malformed input with parse_error or invalid_jsonrpc', () => {
    expect(code(() => parseMcpBody('{'))).toBe('parse_error');
    expect(code(() => parseMcpBody('[]'))).toBe('invalid_jsonrpc');
    expect(code(() => parseMcpBody('"x"'))).toBe('invalid_jsonrpc');
    expect(code(() => parseMcpBody('{"jsonrpc":"2.0","id":null,"method":"x"}'))).toBe('invalid_jsonrpc');
    expect(code(() => parseMcpBody('{"jsonrpc":"2.0","id":1,"method":"x","params":5}'))).toBe('invalid_jsonrpc');
    expect(code(() => parseMcpBody('{"jsonrpc":"2.0","id":1,"result":{},"error":{}}'))).toBe('invalid_jsonrpc');
    expect(code(() => parseMcpBody('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":1,"method":"b"}]'))).toBe('invalid_jsonrpc');
  });
  it("names the offending message in the error's detail: the body, or a batch element by index", () => {
    const detail = (body: string) => {
      try {
        parseMcpBody(body);
      } catch (e) {
        return (e as GatewayError).detail;
      }
      return 'ok';
    };
    expect(detail('{"jsonrpc":"1.0","id":1,"method":"a"}')).toBe('Invalid Request (body): jsonrpc must be "2.0"');
    expect(detail('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2}]')).toBe('Invalid Request (element 1): a response needs exactly one of result and error');
  });
});
