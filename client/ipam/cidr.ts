// IPv4 and IPv6 addresses as bigints, and CIDR arithmetic on them: strict parsing with clear errors,
// canonical formatting (RFC 5952 for IPv6), containment, and splitting a pool into blocks. The one
// implementation of address maths for client/ipam and the CNI plugin: equal addresses always print
// the same way, so their text can be compared and used in keys.

import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface IpAddress {
  readonly family: Family;
  /** The address as an unsigned integer of 32 (IPv4) or 128 (IPv6) bits. */
  readonly value: bigint;
}

export interface Cidr {
  readonly family: Family;
  /** The network address (host bits zero). */
  readonly base: bigint;
  readonly prefix: number;
}

/** An address with its subnet, as configured on an interface (10.22.0.5/16). */
export interface InterfaceAddress extends IpAddress {
  /** The subnet the prefix length makes of it (10.22.0.0/16). */
  readonly cidr: Cidr;
}

export class CidrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CidrError';
  }
}

export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

/**
 * Parses an address as written in configs: IPv4 dotted quads without leading zeros (which some
 * parsers read as octal), IPv6 in any RFC 4291 spelling, an IPv4 tail included.
 */
export function parseIp(text: string): IpAddress {
  if (isIPv4(text)) {
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  // node:net accepts a zone id (fe80::1%eth0); it names a link of one host, so the same text would mean
  // different things on different nodes, and it has no place in a stored or compared address.
  if (isIPv6(text) && !text.includes('%')) {
    if (text.includes('.')) {
      // An IPv4 tail (::ffff:1.2.3.4): turn it into two hex groups first.
      const at = text.lastIndexOf(':');
      const v4 = parseIp(text.slice(at + 1)).value;
      return parseIp(`${text.slice(0, at + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`);
    }
    const [head = '', tail] = text.split('::') as [string, string | undefined];
    const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
    const h = groups(head);
    const t = tail === undefined ? [] : groups(tail);
    const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const value = all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
    return { family: 6, value };
  }
  throw new CidrError(`invalid IP address ${JSON.stringify(text)}`);
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - i * 16)) & 0xffffn));
  // Compress the longest run of two or more zero groups (the first, on ties).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Parses `addr/prefix` keeping the host bits: an interface's address and the subnet it is in. */
export function parseInterface(text: string): InterfaceAddress {
  const slash = text.indexOf('/');
  if (slash < 0) throw new CidrError(`invalid CIDR ${JSON.stringify(text)}: no /prefix`);
  const { family, value } = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  // Three digits at most: a prefix is never above 128, and a long run of zeros is a typo, not a prefix.
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bitsOf(family))
    throw new CidrError(`invalid CIDR ${JSON.stringify(text)}: bad prefix length`);
  return { family, value, cidr: { family, base: value & mask(family, prefix), prefix } };
}

/** Parses a subnet `addr/prefix`; host bits must be zero, so a typo cannot widen or move a pool. */
export function parseCidr(text: string): Cidr {
  const { value, cidr } = parseInterface(text);
  if (cidr.base !== value)
    throw new CidrError(
      `invalid CIDR ${JSON.stringify(text)}: host bits set (did you mean ${formatCidr(cidr)}?)`,
    );
  return cidr;
}

/**
 * `parse(text)`, or null when the text is not a valid address or CIDR: for callers that report a bad
 * value in their own words (the CNI plugin's error codes). Other errors still throw.
 */
export function parseOrNull<T>(parse: (text: string) => T, text: string): T | null {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof CidrError) return null;
    throw err;
  }
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

/** The canonical `addr/prefix` of an interface address, host bits kept. */
export function formatInterface(a: InterfaceAddress): string {
  return `${formatIp(a.family, a.value)}/${a.cidr.prefix}`;
}

export function mask(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export function size(c: Cidr): bigint {
  return 1n << BigInt(bitsOf(c.family) - c.prefix);
}

export function lastOf(c: Cidr): bigint {
  return c.base + size(c) - 1n;
}

export function contains(c: Cidr, family: Family, value: bigint): boolean {
  return c.family === family && value >= c.base && value <= lastOf(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= lastOf(b) && b.base <= lastOf(a);
}

/** The block of `blockPrefix` that holds `value`. */
export function blockOf(family: Family, value: bigint, blockPrefix: number): Cidr {
  return { family, base: value & mask(family, blockPrefix), prefix: blockPrefix };
}

/** How many blocks of `blockPrefix` the pool holds. */
export function blockCount(pool: Cidr, blockPrefix: number): bigint {
  return 1n << BigInt(blockPrefix - pool.prefix);
}

/** The i-th block of the pool. */
export function nthBlock(pool: Cidr, blockPrefix: number, i: bigint): Cidr {
  const step = 1n << BigInt(bitsOf(pool.family) - blockPrefix);
  return { family: pool.family, base: pool.base + i * step, prefix: blockPrefix };
}

/**
 * Where a node starts looking among `count` blocks or subnets: a hash of its name, so nodes that
 * start together try different ones instead of racing for the first.
 */
export function startOffset(node: string, count: bigint): bigint {
  let h = 2166136261;
  for (let i = 0; i < node.length; i++) h = Math.imul(h ^ node.charCodeAt(i), 16777619) >>> 0;
  return BigInt(h) % count;
}
