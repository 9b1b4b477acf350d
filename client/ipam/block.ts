// A block: a run of consecutive addresses (a /26 by default) stored as one key, holding which
// node has affinity for it and which attachment owns each address. Every change to a block is a
// compare-and-swap on its mod_revision, so two writers never both take an address. Released
// addresses remember when they were freed and are not handed out again until the cool-down has
// passed (a late packet for the old container must not reach a new one).

import { type Cidr, type Family, formatIp, size } from './cidr.js';
import { type Pool, usable } from './pool.js';

export interface BlockDoc {
  readonly cidr: string;
  /** The node that claimed the block, or null for a block created only to hold a requested address. */
  readonly affinity: string | null;
  /** Ordinal (offset in the block) → handle key of its owner. */
  readonly allocations: Readonly<Record<string, string>>;
  /** Ordinal → when it was released (ms since the epoch). */
  readonly released: Readonly<Record<string, number>>;
}

export function emptyBlock(cidr: string, affinity: string | null): BlockDoc {
  return { cidr, affinity, allocations: {}, released: {} };
}

export function addressAt(block: Cidr, ordinal: number): bigint {
  return block.base + BigInt(ordinal);
}

export function ordinalOf(block: Cidr, value: bigint): number {
  return Number(value - block.base);
}

function cooling(doc: BlockDoc, ordinal: number, now: number, cooldownMs: number): boolean {
  const at = doc.released[ordinal];
  return at !== undefined && now - at < cooldownMs;
}

/** The lowest ordinal the pool may hand out that is neither taken nor cooling down. */
export function pickFree(
  doc: BlockDoc,
  block: Cidr,
  pool: Pool,
  now: number,
  cooldownMs: number,
): number | undefined {
  const n = Number(size(block));
  for (let i = 0; i < n; i++) {
    if (doc.allocations[i] !== undefined || cooling(doc, i, now, cooldownMs)) continue;
    if (usable(pool, addressAt(block, i))) return i;
  }
  return undefined;
}

/** Why a specific address cannot be taken, or undefined when it can. */
export function blockedReason(
  doc: BlockDoc,
  block: Cidr,
  pool: Pool,
  ordinal: number,
  now: number,
  cooldownMs: number,
): string | undefined {
  const ip = formatIp(block.family, addressAt(block, ordinal));
  if (!usable(pool, addressAt(block, ordinal))) return `${ip} is reserved or outside the pool's range`;
  if (doc.allocations[ordinal] !== undefined) return `${ip} is already allocated`;
  if (cooling(doc, ordinal, now, cooldownMs)) return `${ip} was released recently and is cooling down`;
  return undefined;
}

function pruneReleased(released: Readonly<Record<string, number>>, now: number, cooldownMs: number) {
  const out: Record<string, number> = {};
  for (const [k, at] of Object.entries(released)) if (now - at < cooldownMs) out[k] = at;
  return out;
}

export function withAllocation(
  doc: BlockDoc,
  ordinal: number,
  handleKey: string,
  now: number,
  cooldownMs: number,
) {
  const released = pruneReleased(doc.released, now, cooldownMs);
  delete released[ordinal];
  return { ...doc, allocations: { ...doc.allocations, [ordinal]: handleKey }, released };
}

export function withRelease(doc: BlockDoc, ordinals: readonly number[], now: number, cooldownMs: number) {
  const allocations = { ...doc.allocations };
  const released = pruneReleased(doc.released, now, cooldownMs);
  for (const o of ordinals) {
    delete allocations[o];
    if (cooldownMs > 0) released[o] = now;
  }
  return { ...doc, allocations, released };
}

export function allocatedCount(doc: BlockDoc): number {
  return Object.keys(doc.allocations).length;
}

export function usableCount(block: Cidr, pool: Pool): number {
  let n = 0;
  const total = Number(size(block));
  for (let i = 0; i < total; i++) if (usable(pool, addressAt(block, i))) n++;
  return n;
}

export function familyOf(doc: BlockDoc): Family {
  return doc.cidr.includes(':') ? 6 : 4;
}
