// A block is a run of consecutive addresses (a /26 by default) that one node claims. The block's
// own key only records the claim; each address in use has a key of its own, so allocators that
// take different addresses of one block write different keys and never conflict — only two
// allocators picking the same free address race, and the compare-and-swap on that address's key
// lets exactly one win. A released address keeps its key for the cool-down, marked with the time
// it was released, so a late packet for the old container does not reach a new one.

import { type Cidr, size } from './cidr.js';
import { type Pool, usable } from './pool.js';

export interface BlockDoc {
  readonly cidr: string;
  /** The node that claimed the block, or null for a block created only to hold a requested address. */
  readonly affinity: string | null;
}

/** The value of an address key: its owner's handle key, or when it was released (ms since the epoch). */
export type AddressDoc = { readonly h: string } | { readonly r: number };

/** What is known of a block's addresses: ordinal → document and mod_revision of its key. */
export type AddressMap = ReadonlyMap<number, { readonly doc: AddressDoc; readonly modRevision: number }>;

export function addressAt(block: Cidr, ordinal: number): bigint {
  return block.base + BigInt(ordinal);
}

export function ordinalOf(block: Cidr, value: bigint): number {
  return Number(value - block.base);
}

export function ownerOf(doc: AddressDoc | undefined): string | undefined {
  return doc !== undefined && 'h' in doc ? doc.h : undefined;
}

function cooling(doc: AddressDoc | undefined, now: number, cooldownMs: number): boolean {
  return doc !== undefined && 'r' in doc && now - doc.r < cooldownMs;
}

/** Why an address cannot be taken now, or undefined when it can. */
export function blockedReason(
  addresses: AddressMap,
  block: Cidr,
  pool: Pool,
  ordinal: number,
  now: number,
  cooldownMs: number,
): string | undefined {
  const doc = addresses.get(ordinal)?.doc;
  if (!usable(pool, addressAt(block, ordinal))) return 'reserved or outside the pool range';
  if (ownerOf(doc) !== undefined) return 'already allocated';
  if (cooling(doc, now, cooldownMs)) return 'released recently and cooling down';
  return undefined;
}

/** Every ordinal the pool may hand out now, lowest first. */
export function freeOrdinals(
  addresses: AddressMap,
  block: Cidr,
  pool: Pool,
  now: number,
  cooldownMs: number,
): number[] {
  const out: number[] = [];
  const n = Number(size(block));
  for (let i = 0; i < n; i++)
    if (blockedReason(addresses, block, pool, i, now, cooldownMs) === undefined) out.push(i);
  return out;
}

export function usableCount(block: Cidr, pool: Pool): number {
  let n = 0;
  const total = Number(size(block));
  for (let i = 0; i < total; i++) if (usable(pool, addressAt(block, i))) n++;
  return n;
}
