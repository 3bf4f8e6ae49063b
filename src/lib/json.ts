/**
 * JSON from untrusted peers, parsed with a bound on nesting depth.
 *
 * V8's JSON.parse spends about a second on three megabytes of `[` before it
 * fails, and a deeply nested value that parses breaks every recursive walk
 * after it (JSON.stringify, schema checks). One linear pass over the text
 * counts the nesting outside strings and refuses a text deeper than the bound
 * before JSON.parse sees it; the parse itself is V8's.
 */

/** Nesting allowed in request bodies, MCP messages and replies the gateway reads. */
export const MAX_JSON_DEPTH = 64;

/** The text nests arrays and objects deeper than allowed. */
export class JsonDepthError extends Error {
  override name = 'JsonDepthError';
  constructor(readonly maxDepth: number) {
    super(`JSON nested deeper than ${maxDepth} levels`);
  }
}

/** True when no array or object in `text` is nested deeper than `maxDepth` (strings are skipped, escapes honoured). */
export function withinDepth(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > maxDepth) return false;
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return true;
}

/**
 * JSON.parse with the depth bound. Throws JsonDepthError when too deep and
 * SyntaxError when not JSON; callers map both to their 400.
 */
export function parseJson(text: string | Buffer, maxDepth: number = MAX_JSON_DEPTH): unknown {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  if (!withinDepth(s, maxDepth)) throw new JsonDepthError(maxDepth);
  return JSON.parse(s);
}
