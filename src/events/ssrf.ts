/**
 * The SSRF guard of webhook delivery. A webhook URL is admin input that makes
 * the service send requests, so unless private targets are allowed
 * (WEBHOOK_ALLOW_PRIVATE), every address a URL's host resolves to must be a
 * public unicast address. It is checked when the URL is registered and again
 * on the resolved address at each delivery, and the connection is made to
 * the address that was checked, so a DNS answer that changes in between
 * (rebinding) cannot reach a private address.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64 can reach IPv4 private space
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** True for an address outside every private, loopback, link-local and reserved range (IPv4-mapped IPv6 included). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped !== null) return isPublicAddress(mapped[1]!);
  }
  return !blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export type ResolvedTarget = { address: string; family: 4 | 6 };

export class TargetRefused extends Error {}

/**
 * The address to connect to for `hostname`: the first one it resolves to,
 * once every one it resolves to passed the guard (or private ones are allowed).
 * Throws `TargetRefused` when one is private, and the resolver's error when
 * the name does not resolve.
 */
export async function resolveTarget(hostname: string, allowPrivate: boolean): Promise<ResolvedTarget> {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = isIP(bare);
  const addresses = literal !== 0 ? [{ address: bare, family: literal }] : await lookup(bare, { all: true, verbatim: true });
  if (addresses.length === 0) throw new TargetRefused(`${hostname} resolves to no address`);
  if (!allowPrivate) {
    const refused = addresses.find((entry) => !isPublicAddress(entry.address));
    if (refused !== undefined) throw new TargetRefused(`${hostname} resolves to a non-public address (${refused.address})`);
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
