// IP addresses and CIDRs as numbers, for validating the plugin's ranges and comparing addresses.
// Parsing is strict (no zone ids, no leading zeros in IPv4 octets, which some parsers read as octal)
// and formatting is canonical (RFC 5952 for IPv6), so equal addresses always print the same way.

export type IpVersion = 4 | 6;

export interface IpAddress {
  readonly version: IpVersion;
  /** The address as an unsigned integer of 32 (IPv4) or 128 (IPv6) bits. */
  readonly value: bigint;
}

export interface Cidr {
  /** The address as written (host bits may be set, as in an interface address 10.0.0.5/24). */
  readonly address: IpAddress;
  readonly prefixLength: number;
}

export const bitsOf = (version: IpVersion): number => (version === 4 ? 32 : 128);

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  const m = IPV4.exec(text);
  if (m === null) return null;
  let value = 0n;
  for (const octet of m.slice(1)) {
    if (octet.length > 1 && octet.startsWith('0')) return null;
    const n = Number(octet);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** Groups of one side of "::" (or of the whole address); an IPv4 tail counts as two groups. */
function parseGroups(text: string, allowIpv4Tail: boolean): bigint[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: bigint[] = [];
  for (const [i, part] of parts.entries()) {
    if (allowIpv4Tail && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else {
      if (!HEX_GROUP.test(part)) return null;
      groups.push(BigInt(`0x${part}`));
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  let groups: bigint[];
  if (halves.length === 1) {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    const head = parseGroups(halves[0] ?? '', false);
    const tail = parseGroups(halves[1] ?? '', true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail];
  }
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

export function parseIp(text: string): IpAddress | null {
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === null ? null : { version: 6, value };
  }
  const value = parseIpv4(text);
  return value === null ? null : { version: 4, value };
}

export function formatIp(ip: IpAddress): string {
  if (ip.version === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => ((ip.value >> shift) & 0xffn).toString()).join('.');
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => (ip.value >> shift) & 0xffffn);
  // RFC 5952: the longest run of two or more zero groups (the first one on a tie) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0n) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0n) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: bigint[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIp(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const prefixLength = Number(lengthText);
  if (prefixLength > bitsOf(address.version)) return null;
  return { address, prefixLength };
}

export const formatCidr = (cidr: Cidr): string => `${formatIp(cidr.address)}/${cidr.prefixLength}`;

const hostMask = (cidr: Cidr): bigint =>
  (1n << BigInt(bitsOf(cidr.address.version) - cidr.prefixLength)) - 1n;

/** The network address (all host bits clear). */
export const networkOf = (cidr: Cidr): IpAddress => ({
  version: cidr.address.version,
  value: cidr.address.value & ~hostMask(cidr),
});

/** The highest address of the subnet (the IPv4 broadcast address). */
export const lastOf = (cidr: Cidr): IpAddress => ({
  version: cidr.address.version,
  value: cidr.address.value | hostMask(cidr),
});

export function subnetContains(cidr: Cidr, ip: IpAddress): boolean {
  return ip.version === cidr.address.version && (ip.value & ~hostMask(cidr)) === networkOf(cidr).value;
}

/** Accepts "<ip>" or "<ip>/<prefix>" (the form of CNI's `ips` conventions) and returns the address. */
export function parseIpMaybeWithPrefix(text: string): IpAddress | null {
  if (!text.includes('/')) return parseIp(text);
  return parseCidr(text)?.address ?? null;
}
