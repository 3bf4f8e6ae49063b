/**
 * Fetching a URL a client chose (Client ID Metadata Documents) without
 * letting it reach the gateway's own network (SSRF): the address is checked
 * after DNS resolution, in the lookup undici connects with, so the address
 * checked is the address connected to (no time-of-check/time-of-use gap, no
 * DNS rebinding); IP-literal hosts are checked before connecting. No
 * redirects are followed; the whole exchange is bounded in time and size.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';

/** Addresses that are not on the public internet (RFC 6890 special-purpose registries, multicast, reserved). */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  // (IPv4-mapped addresses, ::ffff:a.b.c.d, are matched by BlockList against the IPv4 rules above.)
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const family = (address: string): 'ipv4' | 'ipv6' | null => (isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : null);

/** A globally routable unicast address. */
export function isPublicAddress(address: string): boolean {
  const f = family(address);
  return f !== null && !NON_PUBLIC.check(address, f);
}

export function isLoopbackAddress(address: string): boolean {
  const f = family(address);
  return f !== null && LOOPBACK.check(address, f);
}

export class UnsafeAddressError extends Error {
  readonly code = 'EADDRNOTPUBLIC';
  constructor(host: string) {
    super(`${host} resolves to an address that may not be fetched`);
    this.name = 'UnsafeAddressError';
  }
}

type AddressRule = (address: string) => boolean;
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup for net/tls.connect that fails unless every resolved address passes `allowed`. */
function guardedLookup(allowed: AddressRule) {
  return (hostname: string, options: { all?: boolean; family?: number; hints?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { family: options.family, hints: options.hints, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0 || addresses.some((a) => !allowed(a.address))) return callback(new UnsafeAddressError(hostname), []);
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

export interface FetchedDocument {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class FetchLimitError extends Error {
  constructor(
    readonly reason: 'too_large' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'FetchLimitError';
  }
}

/**
 * One fetcher per address rule: `public` (any https host on the internet) or
 * `loopback` (development: documents served on this machine).
 */
export class GuardedFetcher {
  private readonly agent: Agent;

  constructor(
    private readonly rule: 'public' | 'loopback',
    private readonly limits: { timeoutMs: number; maxBytes: number },
  ) {
    const allowed: AddressRule = rule === 'public' ? isPublicAddress : isLoopbackAddress;
    this.agent = new Agent({
      connect: { lookup: guardedLookup(allowed) as never, timeout: limits.timeoutMs },
      headersTimeout: limits.timeoutMs,
      bodyTimeout: limits.timeoutMs,
      keepAliveTimeout: 1_000,
      connections: 16,
    });
  }

  /** GET `url` (never following a redirect): status, headers and at most `maxBytes` of body, within `timeoutMs` in all. */
  async get(url: URL): Promise<FetchedDocument> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) {
      const ok = this.rule === 'public' ? isPublicAddress(host) : isLoopbackAddress(host);
      if (!ok) throw new UnsafeAddressError(host);
    }
    const signal = AbortSignal.timeout(this.limits.timeoutMs);
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'portcullis' },
        signal,
      });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > this.limits.maxBytes) {
        res.body.destroy();
        throw new FetchLimitError('too_large', `the document is larger than ${this.limits.maxBytes} bytes`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.limits.maxBytes) {
          res.body.destroy();
          throw new FetchLimitError('too_large', `the document is larger than ${this.limits.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
    } catch (e) {
      if (signal.aborted) throw new FetchLimitError('timeout', `no complete answer within ${this.limits.timeoutMs} ms`);
      throw e;
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
