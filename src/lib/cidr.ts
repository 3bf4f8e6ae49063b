import { BlockList, isIP } from 'node:net';

/**
 * CIDR lists (IPv4 and IPv6) over node:net BlockList. A bare address counts as
 * a single-host block (/32 or /128). IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) match IPv4 blocks.
 */
export interface CidrList {
  readonly size: number;
  contains(address: string): boolean;
}

/** Parse `10.0.0.0/8`, `fd00::/8`, `192.0.2.7` or `::1`; undefined when invalid. */
export function parseCidr(s: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const slash = s.indexOf('/');
  const address = (slash === -1 ? s : s.slice(0, slash)).trim();
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = s.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  return { address, prefix, type: v === 4 ? 'ipv4' : 'ipv6' };
}

export const isCidr = (s: string): boolean => parseCidr(s) !== undefined;

/** Build a list once at start; throws on an invalid entry (config is validated before). */
export function cidrList(entries: readonly string[]): CidrList {
  const list = new BlockList();
  for (const e of entries) {
    const c = parseCidr(e);
    if (!c) throw new TypeError(`invalid CIDR: ${e}`);
    list.addSubnet(c.address, c.prefix, c.type);
  }
  const size = entries.length;
  return {
    size,
    contains(address: string): boolean {
      if (size === 0) return false;
      const v = isIP(address);
      if (v === 0) return false;
      return list.check(address, v === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * Canonical client address: IPv4-mapped IPv6 becomes plain IPv4, a port
 * (`1.2.3.4:5678`, `[::1]:80`) is dropped. Returns '' when not an address.
 */
export function normalizeIp(raw: string): string {
  let a = raw.trim();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end === -1) return '';
    a = a.slice(1, end);
  } else if (a.indexOf(':') !== -1 && a.indexOf(':') === a.lastIndexOf(':') && a.indexOf('.') !== -1) {
    a = a.slice(0, a.indexOf(':')); // 1.2.3.4:5678
  }
  if (a.length > 7 && a.slice(0, 7).toLowerCase() === '::ffff:' && isIP(a.slice(7)) === 4) a = a.slice(7);
  const pct = a.indexOf('%'); // zone id
  if (pct !== -1) a = a.slice(0, pct);
  return isIP(a) === 0 ? '' : a.toLowerCase();
}
