/**
 * The one spelling of a request's path that routing, rate limits,
 * authentication and handlers all see (SPEC §15).
 *
 * Every request target becomes one canonical origin-form target before the
 * router looks at it:
 *   - absolute-form (`http://host/mcp/demo?x`) → its path and query;
 *   - percent-encoded unreserved characters are decoded (`/%6dcp` → `/mcp`),
 *     other escapes keep their meaning with upper-case hex digits;
 *   - runs of `/` collapse into one (`//api/v1` → `/api/v1`).
 * Targets that could mean different things to different readers are refused:
 * an encoded `/` or `\`, a raw `\`, `.` and `..` segments (raw or encoded),
 * NUL and other control characters, bytes outside printable ASCII, `#`,
 * malformed escapes, and any form other than origin and absolute
 * (authority-form, asterisk-form). Case is significant and left alone.
 * The query is kept as sent.
 */

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** Where the path of an absolute-form target starts (after `scheme://authority`); -1 when not absolute-form. */
function absolutePathStart(target: string): number {
  const m = /^https?:\/\//i.exec(target);
  if (!m) return -1;
  for (let i = m[0].length; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */) return i;
  }
  return target.length;
}

/** The canonical path, or null when the path is refused. */
function normalizePath(path: string): string | null {
  let out = '';
  let changed = false;
  let prev = 0;
  for (let i = 0; i < path.length; i++) {
    let c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 92 /* \ */ || c === 35 /* # */) return null;
    if (c === 37 /* % */) {
      const hi = i + 2 < path.length ? hexValue(path.charCodeAt(i + 1)) : -1;
      const lo = hi === -1 ? -1 : hexValue(path.charCodeAt(i + 2));
      if (lo === -1) return null;
      const v = hi * 16 + lo;
      if (v === 47 || v === 92 || v < 0x20 || v === 0x7f) return null;
      changed = true;
      i += 2;
      if (isUnreserved(v)) {
        c = v;
        out += String.fromCharCode(v);
      } else {
        out += '%' + HEX[hi] + HEX[lo];
        prev = 37;
        continue;
      }
    } else if (c === 47 && prev === 47) {
      changed = true;
      continue;
    } else {
      out += path[i];
    }
    prev = c;
  }
  const result = changed ? out : path;
  if (result.includes('/.') && hasDotSegment(result)) return null;
  return result;
}

function hasDotSegment(path: string): boolean {
  for (const segment of path.split('/')) if (segment === '.' || segment === '..') return true;
  return false;
}

/**
 * The canonical origin-form of a request target (path and query), or null
 * when the target is refused (the caller answers 400).
 */
export function normalizeTarget(target: string): string | null {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* / */) {
    start = absolutePathStart(target);
    if (start === -1) return null;
  }
  const q = target.indexOf('?', start);
  const rawPath = q === -1 ? target.slice(start) : target.slice(start, q);
  const path = rawPath === '' ? '/' : normalizePath(rawPath);
  if (path === null) return null;
  if (start === 0 && path === rawPath) return target;
  return q === -1 ? path : path + target.slice(q);
}
