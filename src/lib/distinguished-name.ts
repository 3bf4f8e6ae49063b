/**
 * X.509 distinguished names: parsing, RFC 4514 rendering, and the
 * `allowed_subjects` pattern language of the mtls provider.
 *
 * A DN is a list of RDNs in RFC 4514 order (most specific first, so
 * `CN=client-001,O=Acme,C=US`); an RDN is one or more attribute/value pairs
 * (several only in a multi-valued RDN, written with `+`). Attribute types are
 * kept as upper-case short names (`CN`, `O`, `OU`, `EMAILADDRESS`, or a dotted
 * OID). Values are the unescaped strings.
 *
 * Everything here works on parsed structure, never on substrings of a
 * rendered DN, so a value such as `x, CN=admin` can never pass for an extra
 * attribute and a `*` wildcard can never reach across a `,`, `+` or `=`.
 */

export interface Ava {
  type: string;
  value: string;
}
export type Rdn = Ava[];
export type Dn = Rdn[];

export class DnSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnSyntaxError';
  }
}

/** Short names users may write for attributes Node/OpenSSL name otherwise. */
const TYPE_ALIASES: Record<string, string> = { E: 'EMAILADDRESS', EMAIL: 'EMAILADDRESS', S: 'ST' };
const TYPE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/;

function normType(raw: string): string {
  const t = raw.trim();
  if (!TYPE_RE.test(t)) throw new DnSyntaxError(`invalid attribute type ${JSON.stringify(t)}`);
  const u = t.toUpperCase();
  return TYPE_ALIASES[u] ?? u;
}

const HEX2 = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One attribute value, unescaped. With `wildcards`, an unescaped `*` splits the
 * value into literal segments (so `\*` or `\2A` stays a literal star).
 * Unescaped leading and trailing spaces are dropped (RFC 4514 requires
 * significant ones to be escaped).
 */
function unescapeValue(raw: string, wildcards: boolean): string[] {
  const segments: string[] = [];
  let bytes: number[] = [];
  let significantEnd = 0; // bytes.length after the last significant (non-space or escaped) char
  let started = false;
  const flush = () => {
    try {
      segments.push(utf8.decode(Uint8Array.from(bytes.slice(0, significantEnd))));
    } catch {
      throw new DnSyntaxError('attribute value is not valid UTF-8');
    }
    bytes = [];
    significantEnd = 0;
  };
  const push = (chunk: number[], significant: boolean) => {
    bytes.push(...chunk);
    if (significant) significantEnd = bytes.length;
  };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch === '\\') {
      const pair = raw.slice(i + 1, i + 3);
      if (HEX2.test(pair)) {
        push([parseInt(pair, 16)], true);
        i += 2;
      } else if (i + 1 < raw.length) {
        push([...Buffer.from(raw[i + 1], 'utf8')], true);
        i += 1;
      } else throw new DnSyntaxError('dangling backslash in attribute value');
      started = true;
      continue;
    }
    if (!started && ch === ' ') continue;
    if (!started && ch === '#') throw new DnSyntaxError('hex-encoded (#...) attribute values are not supported');
    if (ch === '"' || ch === ';' || ch === '<' || ch === '>') throw new DnSyntaxError(`unescaped ${ch} in attribute value`);
    started = true;
    if (wildcards && ch === '*') {
      significantEnd = bytes.length;
      flush();
      continue;
    }
    // Astral characters are two UTF-16 units; encode the pair together.
    const cp = raw.codePointAt(i)!;
    const s = String.fromCodePoint(cp);
    if (s.length === 2) i++;
    push([...Buffer.from(s, 'utf8')], ch !== ' ');
  }
  flush();
  return segments;
}

interface RawAva {
  type: string;
  segments: string[];
}

/** Split at unescaped `sep` characters, keeping escapes intact. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function parseAva(s: string, wildcards: boolean): RawAva {
  const eq = s.indexOf('=');
  if (eq === -1) throw new DnSyntaxError(`expected TYPE=value, got ${JSON.stringify(s.trim())}`);
  return { type: normType(s.slice(0, eq)), segments: unescapeValue(s.slice(eq + 1), wildcards) };
}

function parseRdns(rdnStrings: string[], wildcards: boolean): RawAva[][] {
  return rdnStrings.map((r) => {
    if (!r.trim()) throw new DnSyntaxError('empty RDN');
    return splitUnescaped(r, '+').map((a) => parseAva(a, wildcards));
  });
}

const toDn = (raw: RawAva[][]): Dn => raw.map((rdn) => rdn.map((a) => ({ type: a.type, value: a.segments.join('') })));

/** Parse an RFC 4514 string (`CN=a+OU=b,O=Acme\, Inc,C=US`); spaces after separators are allowed. */
export function parseDn(s: string): Dn {
  if (!s.trim()) return [];
  return toDn(parseRdns(splitUnescaped(s, ','), false));
}

/**
 * Parse Node's `X509Certificate#subject`: one RDN per line in certificate
 * (ASN.1) order, multi-valued RDNs joined by ` + `, values escaped the
 * RFC 2253 way (control characters as `\0A`, so a line break is always a
 * separator). Returns RFC 4514 order.
 */
export function parseNodeSubject(s: string): Dn {
  if (!s) return [];
  return toDn(parseRdns(s.split('\n'), false)).reverse();
}

/** Escape one value per RFC 4514 §2.4 (control characters as hex), as `openssl -nameopt RFC2253` does for ASCII. */
export function escapeValue(v: string): string {
  let out = '';
  const chars = [...v];
  chars.forEach((ch, i) => {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) out += '\\' + c.toString(16).toUpperCase().padStart(2, '0');
    else if ('"+,;<>\\'.includes(ch)) out += '\\' + ch;
    else if ((i === 0 && (ch === ' ' || ch === '#')) || (i === chars.length - 1 && ch === ' ')) out += '\\' + ch;
    else out += ch;
  });
  return out;
}

/** RFC 4514 rendering: `CN=client-001,O=Acme\, Inc,C=US`; multi-valued RDNs sorted by type. */
export function formatDn(dn: Dn): string {
  return dn
    .map((rdn) =>
      sortAvas(rdn)
        .map((a) => `${a.type}=${escapeValue(a.value)}`)
        .join('+'),
    )
    .join(',');
}

const sortAvas = <T extends { type: string }>(rdn: T[]): T[] => [...rdn].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));

function globMatches(segments: string[], value: string): boolean {
  if (segments.length === 1) return segments[0] === value;
  const first = segments[0];
  const last = segments[segments.length - 1];
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
  let pos = first.length;
  const end = value.length - last.length;
  for (const mid of segments.slice(1, -1)) {
    const at = value.indexOf(mid, pos);
    if (at === -1 || at + mid.length > end) return false;
    pos = at + mid.length;
  }
  return true;
}

/**
 * Compile an `allowed_subjects` entry.
 *
 * - One attribute (`CN=client-001`, `CN=service-*`, `O=Acme`): the
 *   certificate subject must contain that attribute type exactly once, and
 *   its value must match.
 * - Several attributes (`CN=svc-*,O=Acme,C=US`): the whole subject must match,
 *   RDN by RDN in RFC 4514 order (most specific first), with the same number
 *   of RDNs; within a multi-valued RDN the order of attributes does not matter.
 *
 * `*` matches any run of characters (also none) inside one value; `\*`
 * is a literal star. Attribute types compare case-insensitively, values
 * exactly. Throws DnSyntaxError for a malformed pattern.
 */
export function compileSubjectPattern(pattern: string): (dn: Dn) => boolean {
  if (!pattern.trim()) throw new DnSyntaxError('empty subject pattern');
  const rdns = parseRdns(splitUnescaped(pattern, ','), true);
  for (const rdn of rdns)
    for (const a of rdn) if (a.segments.every((s) => s === '') && a.segments.length === 1) throw new DnSyntaxError(`empty value for ${a.type}`);

  if (rdns.length === 1 && rdns[0].length === 1) {
    const { type, segments } = rdns[0][0];
    return (dn) => {
      let found: string | undefined;
      let count = 0;
      for (const rdn of dn)
        for (const a of rdn)
          if (a.type === type) {
            count++;
            found = a.value;
          }
      return count === 1 && globMatches(segments, found!);
    };
  }

  const want = rdns.map((rdn) => sortAvas(rdn));
  return (dn) => {
    if (dn.length !== want.length) return false;
    return want.every((wrdn, i) => {
      const have = sortAvas(dn[i]);
      return have.length === wrdn.length && wrdn.every((w, j) => have[j].type === w.type && globMatches(w.segments, have[j].value));
    });
  };
}
