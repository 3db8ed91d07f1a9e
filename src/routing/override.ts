// The override header's client allowlist (routing.overrideAllow): CIDRs parsed once into a
// node:net BlockList, checked only for requests that carry the header. Pure.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (one host); null when it is neither. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const bits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits)) return null;
    prefix = Number(bits);
    if (prefix > max) return null;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A BlockList holding every CIDR (invalid entries are skipped: config validation reports them). */
export function allowList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr !== null) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

/** True when the peer address is in the list (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function addressAllowed(list: BlockList, address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return list.check(address.slice(7), 'ipv4');
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}
