/**
 * The client's address. `X-Forwarded-For` is honoured only when the TCP peer
 * is a trusted proxy (`server.trusted_proxies`, CIDRs): the list is walked
 * right to left, skipping trusted hops, and the first untrusted address is
 * the client. A malformed entry stops the walk at the last good hop. With no
 * trusted proxies the socket address is used and XFF is ignored.
 */
import { type IncomingHttpHeaders } from 'node:http';
import { cidrList, normalizeIp, type CidrList } from '../lib/cidr.js';

export interface ClientIpSource {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined } | null | undefined;
}

export type ClientIpResolver = (req: ClientIpSource) => string;

/** The normalized peer address, kept on the socket: keep-alive connections serve many requests. */
const PEER = Symbol('portcullis.peer');

function peerOf(socket: ClientIpSource['socket']): string {
  if (!socket) return 'unknown';
  const s = socket as { [PEER]?: string; remoteAddress?: string };
  return (s[PEER] ??= normalizeIp(s.remoteAddress ?? '') || 'unknown');
}

export function makeClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver & { trusted: CidrList } {
  const trusted = cidrList(trustedProxies);
  const resolve = (req: ClientIpSource): string => {
    const peer = peerOf(req.socket);
    if (trusted.size === 0 || !trusted.contains(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    if (!header) return peer;
    const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
    let addr = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp(hops[i]);
      if (!hop) return addr;
      addr = hop;
      if (!trusted.contains(hop)) return hop;
    }
    return addr;
  };
  return Object.assign(resolve, { trusted });
}

/**
 * Trust function for fastify's `trustProxy`, so `req.ip` (used by routes for
 * audit and login throttling) follows the same rule as the resolver.
 */
export function makeTrustFn(trusted: CidrList): (address: string, hop: number) => boolean {
  return (address) => trusted.contains(normalizeIp(address));
}
