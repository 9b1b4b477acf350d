// Pool definitions: a CIDR carved into blocks, with the addresses that are never handed out
// (network and broadcast, the gateway, excluded ranges, anything outside [rangeStart, rangeEnd]).
// Validation happens here, once, with messages that name the offending field.

import {
  type Cidr,
  type CidrError,
  contains,
  type Family,
  formatCidr,
  formatIp,
  lastOf,
  parseCidr,
  parseIp,
} from './cidr.js';

/** A pool as written by `netcdctl ipam pool add` or derived from a CNI range. */
export interface PoolSpec {
  readonly name: string;
  readonly cidr: string;
  /** Prefix length of a block (default /26 for IPv4, /122 for IPv6, never shorter than the pool). */
  readonly blockSize?: number;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  /** Reserved, never allocated; defaults to the first address after the network address. */
  readonly gateway?: string;
  /** CIDRs or `first-last` ranges never handed out. */
  readonly exclude?: readonly string[];
}

export interface Pool {
  readonly spec: PoolSpec;
  readonly name: string;
  readonly cidr: Cidr;
  readonly family: Family;
  readonly blockPrefix: number;
  readonly rangeStart: bigint;
  readonly rangeEnd: bigint;
  readonly gateway: bigint | undefined;
  readonly excluded: readonly { readonly from: bigint; readonly to: bigint }[];
}

export class PoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolError';
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,299}$/;

function ipIn(pool: Cidr, field: string, text: string): bigint {
  let parsed: { family: Family; value: bigint };
  try {
    parsed = parseIp(text);
  } catch (err) {
    throw new PoolError(`${field}: ${(err as Error).message}`);
  }
  if (!contains(pool, parsed.family, parsed.value))
    throw new PoolError(`${field}: ${text} is not inside ${formatCidr(pool)}`);
  return parsed.value;
}

export function parsePool(spec: PoolSpec): Pool {
  if (!NAME.test(spec.name))
    throw new PoolError(
      `pool name ${JSON.stringify(spec.name)}: start with a letter or digit, then letters, digits, '.', '_', ':' or '-' (≤300)`,
    );
  let cidr: Cidr;
  try {
    cidr = parseCidr(spec.cidr);
  } catch (err) {
    throw new PoolError(`cidr: ${(err as CidrError).message}`);
  }
  const family = cidr.family;
  const bits = family === 4 ? 32 : 128;
  const blockPrefix = Math.max(cidr.prefix, spec.blockSize ?? (family === 4 ? 26 : 122));
  if (!Number.isInteger(blockPrefix) || blockPrefix > bits)
    throw new PoolError(`blockSize: /${spec.blockSize} is not a prefix length for IPv${family}`);
  if (bits - blockPrefix > 16)
    throw new PoolError(`blockSize: /${blockPrefix} blocks would hold more than 65536 addresses`);
  // IPv4 point-to-point (/31) and host (/32) pools have no network or broadcast address.
  const hasEdges = family === 4 && cidr.prefix < 31;
  const first = hasEdges || family === 6 ? cidr.base + (cidr.prefix < bits ? 1n : 0n) : cidr.base;
  const last = hasEdges ? lastOf(cidr) - 1n : lastOf(cidr);
  const rangeStart = spec.rangeStart === undefined ? first : ipIn(cidr, 'rangeStart', spec.rangeStart);
  const rangeEnd = spec.rangeEnd === undefined ? last : ipIn(cidr, 'rangeEnd', spec.rangeEnd);
  if (rangeStart > rangeEnd)
    throw new PoolError(`rangeStart ${spec.rangeStart} is after rangeEnd ${spec.rangeEnd}`);
  const gateway =
    spec.gateway === undefined
      ? cidr.prefix < bits - 1
        ? cidr.base + 1n
        : undefined
      : ipIn(cidr, 'gateway', spec.gateway);
  const excluded = (spec.exclude ?? []).map((e) => parseExclusion(cidr, e));
  return { spec, name: spec.name, cidr, family, blockPrefix, rangeStart, rangeEnd, gateway, excluded };
}

function parseExclusion(pool: Cidr, text: string): { from: bigint; to: bigint } {
  if (text.includes('/')) {
    let c: Cidr;
    try {
      c = parseCidr(text);
    } catch (err) {
      throw new PoolError(`exclude: ${(err as Error).message}`);
    }
    if (c.family !== pool.family) throw new PoolError(`exclude: ${text} is not IPv${pool.family}`);
    return { from: c.base, to: lastOf(c) };
  }
  const [a, b] = text.split('-');
  if (a === undefined) throw new PoolError(`exclude: ${text}`);
  const from = ipIn(pool, 'exclude', a.trim());
  const to = b === undefined ? from : ipIn(pool, 'exclude', b.trim());
  if (from > to) throw new PoolError(`exclude: ${text} runs backwards`);
  return { from, to };
}

/** Whether the pool may hand out this address at all. */
export function usable(pool: Pool, value: bigint): boolean {
  if (value < pool.rangeStart || value > pool.rangeEnd) return false;
  if (value === pool.gateway) return false;
  return !pool.excluded.some((r) => value >= r.from && value <= r.to);
}

export function describePool(pool: Pool): Record<string, unknown> {
  return {
    name: pool.name,
    cidr: formatCidr(pool.cidr),
    blockSize: pool.blockPrefix,
    rangeStart: formatIp(pool.family, pool.rangeStart),
    rangeEnd: formatIp(pool.family, pool.rangeEnd),
    gateway: pool.gateway === undefined ? null : formatIp(pool.family, pool.gateway),
    exclude: pool.spec.exclude ?? [],
  };
}
