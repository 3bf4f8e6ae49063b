/**
 * Incremental Server-Sent Events parsing (WHATWG HTML, "Parsing an event
 * stream") for streams the gateway inspects while relaying them: chunks go in
 * as they arrive, complete events come out. UTF-8 with one leading BOM
 * stripped; lines end in CRLF, LF or CR; `data` lines are joined with LF; one
 * space after the colon is removed; an `id` with NUL is ignored; `retry` is
 * digits only; unknown fields are ignored; an event without its blank line at
 * the end of the stream is never dispatched. The gateway relays what it
 * parsed, re-serialized (formatSseEvent), never the upstream's bytes.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** `event:` field; undefined means the default `message`. */
  event?: string;
  id?: string;
  retry?: number;
  /** Joined `data:` lines; undefined when the block had no data field (comments only). */
  data?: string;
  /** The block's lines as received, without the terminating blank line (for logs and tests). */
  raw: string;
  /** The block had only comment lines (a keep-alive). */
  comment?: boolean;
}

/** Cap on one event's size; a longer event aborts the stream (hostile or broken peer). */
export const MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024;

export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private lines: string[] = [];
  private size = 0;
  private pendingCr = false;
  private started = false;

  /** Feed bytes; returns the events completed by them. */
  push(chunk: Buffer | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    const out: SseEvent[] = [];
    let start = 0;
    const all = this.buf + text;
    this.buf = '';
    for (let i = 0; i < all.length; i++) {
      const c = all.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = all.slice(start, i);
      if (c === 13) {
        if (i + 1 < all.length) {
          if (all.charCodeAt(i + 1) === 10) i++;
        } else this.pendingCr = true;
      }
      start = i + 1;
      this.onLine(line, out);
    }
    this.buf = all.slice(start);
    if (this.buf.length + this.size > MAX_SSE_EVENT_BYTES) throw new Error('SSE event too large');
    return out;
  }

  private onLine(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.lines.length) out.push(parseBlock(this.lines));
      this.lines = [];
      this.size = 0;
      return;
    }
    this.lines.push(line);
    this.size += line.length + 1;
    if (this.size > MAX_SSE_EVENT_BYTES) throw new Error('SSE event too large');
  }
}

function parseBlock(lines: string[]): SseEvent {
  const ev: SseEvent = { raw: lines.join('\n') };
  let data: string[] | undefined;
  let fields = 0;
  for (const line of lines) {
    if (line.startsWith(':')) continue;
    fields++;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        (data ??= []).push(value);
        break;
      case 'event':
        ev.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) ev.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) ev.retry = Number(value);
        break;
    }
  }
  if (data) ev.data = data.join('\n');
  if (fields === 0) ev.comment = true;
  return ev;
}

/** Serialize one event; `data` may hold newlines. */
export function formatSseEvent(e: { event?: string; id?: string; retry?: number; data: string }): string {
  let s = '';
  if (e.event !== undefined) s += `event: ${e.event}\n`;
  if (e.id !== undefined) s += `id: ${e.id}\n`;
  if (e.retry !== undefined) s += `retry: ${e.retry}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
  return s + '\n';
}
