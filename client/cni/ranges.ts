// host-local's `ranges` (a list of range sets, each a list of ranges of one address family) checked
// and made canonical: defaults filled in like host-local (start = network + 1, end = last address, for
// IPv4 the one below broadcast, gateway = network + 1), every address inside its subnet, no two ranges
// overlapping. The allocator receives only ranges that passed here.

import {
  bitsOf,
  type Cidr,
  contains,
  type Family,
  formatCidr,
  formatInterface,
  formatIp,
  type IpAddress,
  lastOf,
  parseInterface,
  parseIp,
  parseOrNull,
} from '../ipam/cidr.js';
import type { RangeSet, RangeSpec } from './allocator.js';
import { invalidConfig, isObject, rejectUnknownKeys } from './fields.js';

/** Bounds on what one config may ask for; far above any real network's needs. */
export const MAX_RANGE_SETS = 16;
export const MAX_RANGES_PER_SET = 64;

export interface ParsedRange {
  readonly family: Family;
  readonly subnet: Cidr;
  readonly start: bigint;
  readonly end: bigint;
  readonly spec: RangeSpec;
}

export type ParsedRangeSet = readonly ParsedRange[];

const RANGE_KEYS = new Set(['subnet', 'rangeStart', 'rangeEnd', 'gateway']);

/** An address field of a range: absent, or a valid address of the subnet's family inside the subnet. */
function addressIn(raw: Record<string, unknown>, key: string, subnet: Cidr, path: string): IpAddress | null {
  const value = raw[key];
  if (value === undefined) return null;
  const ip = typeof value === 'string' ? parseOrNull(parseIp, value) : null;
  if (ip === null) throw invalidConfig(`${path}.${key}: ${JSON.stringify(value)} is not an IP address`);
  if (!contains(subnet, ip.family, ip.value))
    throw invalidConfig(`${path}.${key}: ${formatIp(ip.family, ip.value)} is not in ${formatCidr(subnet)}`);
  return ip;
}

export function parseRange(raw: unknown, path: string): ParsedRange {
  if (!isObject(raw)) throw invalidConfig(`${path}: must be an object with a subnet`);
  rejectUnknownKeys(raw, RANGE_KEYS, path);
  if (raw.subnet === undefined) throw invalidConfig(`${path}.subnet: missing`);
  // Parsed with its host bits kept, so the message can show both what was written and the network.
  const written = typeof raw.subnet === 'string' ? parseOrNull(parseInterface, raw.subnet) : null;
  if (written === null) throw invalidConfig(`${path}.subnet: ${JSON.stringify(raw.subnet)} is not a CIDR`);
  const { family, cidr: subnet } = written;
  if (written.value !== subnet.base)
    throw invalidConfig(
      `${path}.subnet: ${formatInterface(written)} has host bits set (the network is ${formatCidr(subnet)})`,
    );
  // Like host-local: a /31 or /32 (/127, /128) leaves nothing once network and broadcast are excluded.
  if (subnet.prefix > bitsOf(family) - 2)
    throw invalidConfig(`${path}.subnet: ${formatCidr(subnet)} is too small to allocate from`);
  const firstHost = subnet.base + 1n;
  const lastHost = family === 4 ? lastOf(subnet) - 1n : lastOf(subnet);

  const start = addressIn(raw, 'rangeStart', subnet, path)?.value ?? firstHost;
  const end = addressIn(raw, 'rangeEnd', subnet, path)?.value ?? lastHost;
  const gateway = addressIn(raw, 'gateway', subnet, path)?.value ?? firstHost;
  const at = (value: bigint) => formatIp(family, value);
  if (start < firstHost || start > lastHost)
    throw invalidConfig(`${path}.rangeStart: ${at(start)} is the network or broadcast address`);
  if (end < firstHost || end > lastHost)
    throw invalidConfig(`${path}.rangeEnd: ${at(end)} is the network or broadcast address`);
  if (start > end) throw invalidConfig(`${path}: rangeStart ${at(start)} is after rangeEnd ${at(end)}`);
  return {
    family,
    subnet,
    start,
    end,
    spec: { subnet: formatCidr(subnet), rangeStart: at(start), rangeEnd: at(end), gateway: at(gateway) },
  };
}

const overlaps = (a: ParsedRange, b: ParsedRange) =>
  a.family === b.family && a.start <= b.end && b.start <= a.end;

const describe = (r: ParsedRange) => `${r.spec.rangeStart}-${r.spec.rangeEnd}`;

export function parseRangeSet(raw: unknown, path: string): ParsedRangeSet {
  if (!Array.isArray(raw)) throw invalidConfig(`${path}: must be an array of ranges`);
  if (raw.length === 0) throw invalidConfig(`${path}: empty range set`);
  if (raw.length > MAX_RANGES_PER_SET) throw invalidConfig(`${path}: more than ${MAX_RANGES_PER_SET} ranges`);
  const set = raw.map((r, i) => parseRange(r, `${path}[${i}]`));
  const first = set[0]!;
  if (set.some((r) => r.family !== first.family)) throw invalidConfig(`${path}: mixes IPv4 and IPv6 ranges`);
  for (const [i, a] of set.entries())
    for (const b of set.slice(i + 1))
      if (overlaps(a, b)) throw invalidConfig(`${path}: ranges ${describe(a)} and ${describe(b)} overlap`);
  return set;
}

/** A list of range sets (`ipam.ranges`, `runtimeConfig.ipRanges`). */
export function parseRangeSets(raw: unknown, path: string): ParsedRangeSet[] {
  if (!Array.isArray(raw)) throw invalidConfig(`${path}: must be an array of range sets (arrays of ranges)`);
  return raw.map((set, i) => parseRangeSet(set, `${path}[${i}]`));
}

/** All sets together must stay within the bound and must not overlap (one address per set). */
export function checkRangeSets(sets: readonly ParsedRangeSet[], path: string): void {
  if (sets.length > MAX_RANGE_SETS) throw invalidConfig(`${path}: more than ${MAX_RANGE_SETS} range sets`);
  for (const [i, a] of sets.entries())
    for (const [j, b] of sets.entries())
      if (j > i && a.some((ra) => b.some((rb) => overlaps(ra, rb))))
        throw invalidConfig(`${path}: range sets ${i} and ${j} overlap`);
}

/** The index of the set with a range (start..end) that holds `ip`, or -1. */
export function rangeSetIndexOf(sets: readonly ParsedRangeSet[], ip: IpAddress): number {
  return sets.findIndex((set) =>
    set.some((r) => r.family === ip.family && r.start <= ip.value && ip.value <= r.end),
  );
}

export const toRangeSet = (set: ParsedRangeSet): RangeSet => set.map((r) => r.spec);
