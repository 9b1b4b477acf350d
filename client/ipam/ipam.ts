// Cluster-wide IP address management over netcd, in the manner of Calico's block IPAM. A node
// claims whole blocks of a pool (a create-if-absent txn) and allocates from its own blocks
// first, so allocators on different nodes write different keys and do not contend; when its
// blocks are full it claims another, and when the pool has none left it borrows a free address
// from another node's block. Each address in use is a key of its own (client/ipam/block.ts), so
// even allocators of one node contend only when they pick the same address. Every change is one
// txn that compares the mod_revision of each key it read (the address, the attachment's handle)
// and writes both: an address is recorded under its key and in its owner's handle at the same
// revision or not at all. Conflicts are retried a bounded number of times from fresh values.
//
// Handles — (network, container id, interface) — make allocate and release idempotent: a
// repeated ADD returns the address already recorded, a repeated DEL finds nothing to do.

import { hostname } from 'node:os';
import type { Netcd } from '../netcd.js';
import { type Compare, compare, type Op, op } from '../txn.js';
import type { KeyValue } from '../wire.js';
import {
  type AddressDoc,
  addressAt,
  type BlockDoc,
  blockedReason,
  freeOrdinals,
  ordinalOf,
  ownerOf,
} from './block.js';
import {
  blockCount,
  blockOf,
  type Cidr,
  contains,
  type Family,
  formatCidr,
  formatIp,
  nthBlock,
  overlaps,
  parseCidr,
  parseIp,
  startOffset,
} from './cidr.js';
import { blockName, type HandleRef, IpamKeys } from './keys.js';
import { type Pool, type PoolSpec, parsePool } from './pool.js';

export interface IpamOptions {
  /** The node this allocator works for (default: the host name). */
  readonly node?: string;
  readonly root?: string;
  /** How long a released address rests before it is handed out again (default 30 s). */
  readonly cooldownMs?: number;
  /** Compare-and-swap attempts per operation before giving up (default 32). */
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal;
}

export interface AddressRecord {
  readonly pool: string;
  readonly block: string;
  readonly ordinal: number;
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway: string | null;
  readonly family: Family;
}

export interface HandleDoc {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly node: string;
  readonly created: number;
  readonly addresses: readonly AddressRecord[];
}

export class IpamError extends Error {
  constructor(
    readonly code:
      | 'POOL_EXHAUSTED'
      | 'POOL_NOT_FOUND'
      | 'POOL_EXISTS'
      | 'POOL_IN_USE'
      | 'ADDRESS_UNAVAILABLE'
      | 'CONFLICT',
    message: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}

const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_MAX_ATTEMPTS = 32;

interface Versioned<T> {
  readonly doc: T;
  readonly modRevision: number;
  readonly key: string;
}

function decode<T>(kv: KeyValue | undefined): Versioned<T> | undefined {
  if (kv === undefined) return undefined;
  return { doc: JSON.parse(kv.value.toString()) as T, modRevision: kv.modRevision, key: kv.key.toString() };
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** An allocation attempt: done, no room, or the handle changed (here is its current state). */
type Attempt =
  | { readonly ok: AddressRecord }
  | 'full'
  | { readonly handle: Versioned<HandleDoc> | undefined };

/** Allocators racing in one block pick at random among this many lowest free addresses. */
const PICK_AMONG = 16;

export class Ipam {
  readonly keys: IpamKeys;
  readonly node: string;
  private readonly cooldownMs: number;
  private readonly maxAttempts: number;
  private readonly pools = new Map<string, Pool>();
  /** Pool → the keys of the blocks this node has claimed in it. */
  private readonly affinity = new Map<string, string[]>();
  /**
   * Block key → its address keys as last seen, kept current by this allocator's own writes and by
   * the fresh copy every failed txn returns. Only a suggestion, like any read here: a stale entry
   * makes the deciding txn fail, never succeed wrongly. A long-lived allocator working in its own
   * blocks thus needs one round trip per allocation.
   */
  private readonly blockCache = new Map<string, Map<number, { doc: AddressDoc; modRevision: number }>>();
  /** Compare-and-swap attempts that lost to a concurrent writer and were retried. */
  conflicts = 0;

  constructor(
    private readonly client: Netcd,
    o: IpamOptions = {},
  ) {
    this.keys = new IpamKeys(o.root);
    this.node = o.node ?? hostname();
    this.cooldownMs = o.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.maxAttempts = o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  // ---- pools ----

  /** Creates a pool; refuses a name in use or a CIDR overlapping another pool. */
  async addPool(spec: PoolSpec): Promise<Pool> {
    const pool = parsePool(spec);
    for (const other of await this.listPools())
      if (overlaps(other.cidr, pool.cidr))
        throw new IpamError(
          'POOL_EXISTS',
          `${spec.cidr} overlaps pool ${other.name} (${formatCidr(other.cidr)})`,
        );
    const key = this.keys.pool(pool.name);
    const res = await this.client
      .txn()
      .if(compare.createRevision(key).equal(0))
      .onSuccess(op.put(key, json(spec)))
      .commit();
    if (!res.succeeded) throw new IpamError('POOL_EXISTS', `pool ${pool.name} already exists`);
    this.pools.set(pool.name, pool);
    return pool;
  }

  /**
   * The pool of that name, created from `spec` when absent (how CNI ranges become pools). A
   * pool that exists with another definition is an error rather than silently used.
   */
  async ensurePool(spec: PoolSpec): Promise<Pool> {
    const wanted = parsePool(spec);
    const key = this.keys.pool(wanted.name);
    const res = await this.client
      .txn()
      .if(compare.createRevision(key).equal(0))
      .onSuccess(op.put(key, json(spec)))
      .onFailure(op.get(key))
      .commit();
    if (res.succeeded) {
      this.pools.set(wanted.name, wanted);
      return wanted;
    }
    const got = res.responses[0];
    const kv = got?.kind === 'get' ? got.get.kvs[0] : undefined;
    const existing = parsePool(JSON.parse(kv?.value.toString() ?? '{}') as PoolSpec);
    if (!samePool(existing, wanted))
      throw new IpamError(
        'POOL_EXISTS',
        `pool ${wanted.name} exists with a different definition (${formatCidr(existing.cidr)}, range ${formatIp(existing.family, existing.rangeStart)}-${formatIp(existing.family, existing.rangeEnd)})`,
      );
    this.pools.set(existing.name, existing);
    return existing;
  }

  async getPool(name: string): Promise<Pool> {
    const cached = this.pools.get(name);
    if (cached !== undefined) return cached;
    const res = await this.client.get(this.keys.pool(name));
    const kv = res.kvs[0];
    if (kv === undefined) throw new IpamError('POOL_NOT_FOUND', `pool ${name} not found`);
    const pool = parsePool(JSON.parse(kv.value.toString()) as PoolSpec);
    this.pools.set(name, pool);
    return pool;
  }

  async listPools(): Promise<Pool[]> {
    const res = await this.client.get(this.keys.pools(), { prefix: true });
    return res.kvs.map((kv) => parsePool(JSON.parse(kv.value.toString()) as PoolSpec));
  }

  /** Deletes a pool that holds no allocations (and its empty blocks and affinities). */
  async deletePool(name: string): Promise<void> {
    const pool = await this.getPool(name);
    const addresses = await this.client.get(this.keys.addresses(name), { prefix: true });
    for (const kv of addresses.kvs)
      if (ownerOf(JSON.parse(kv.value.toString()) as AddressDoc) !== undefined)
        throw new IpamError('POOL_IN_USE', `pool ${name} still has allocations (${kv.key.toString()})`);
    const ops: Op[] = [
      op.delete(this.keys.pool(name)),
      op.delete(this.keys.blocks(name), { prefix: true }),
      op.delete(this.keys.addresses(name), { prefix: true }),
    ];
    // Nothing may be allocated between the check and the delete: no address key may change.
    const compares = [
      compare.modRevision(this.keys.addresses(name), { prefix: true }).less(addresses.header.revision + 1),
    ];
    const res = await this.client.commitTxn({ compares, success: ops, failure: [] });
    if (!res.succeeded)
      throw new IpamError('CONFLICT', `pool ${name} changed while being deleted; try again`);
    // Affinity keys point at blocks that no longer exist; remove them for every node.
    const affinities = await this.client.get(`${this.keys.root}affinity/`, { prefix: true, keysOnly: true });
    const mine = affinities.kvs.filter(
      (kv) => kv.key.toString().split('/').at(-2) === encodeURIComponent(pool.name),
    );
    for (const kv of mine) await this.client.delete(kv.key);
    this.pools.delete(name);
  }

  // ---- allocation ----

  /** The addresses recorded for an attachment, or undefined. */
  async getHandle(h: HandleRef): Promise<HandleDoc | undefined> {
    return decode<HandleDoc>((await this.client.get(this.keys.handle(h))).kvs[0])?.doc;
  }

  /**
   * One address for the attachment from the first of `pools` that has room (or exactly
   * `requested`, which must lie in one of them). Idempotent: if the handle already holds an
   * address from one of the pools, that address is returned.
   *
   * Reads are serializable (answered by the member asked, without a quorum round): they only
   * suggest what to try. What decides is the write, a txn that compares the mod_revision of the
   * address key and of the handle with what was read — stale suggestions fail it and are retried
   * with the fresh values the failed txn returns.
   */
  async allocate(
    h: HandleRef,
    poolNames: readonly string[],
    o: { readonly requested?: string; readonly signal?: AbortSignal } = {},
  ): Promise<AddressRecord> {
    if (poolNames.length === 0) throw new IpamError('POOL_NOT_FOUND', 'no pool given');
    const pools = await Promise.all(poolNames.map((n) => this.getPool(n)));
    const handleKey = this.keys.handle(h);
    // Assumed absent at first (the common case: a new attachment): if it exists, the deciding txn
    // fails on the handle's revision and returns it, and the next round finds what it holds.
    let handle: Versioned<HandleDoc> | undefined;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      o.signal?.throwIfAborted();
      const held = handle?.doc.addresses.find((a) => poolNames.includes(a.pool));
      if (held !== undefined) return held;
      const ctx: AllocContext = {
        handleKey,
        handleRev: handle?.modRevision ?? 0,
        handle: handle?.doc ?? {
          network: h.network,
          containerId: h.containerId,
          ifname: h.ifname,
          node: this.node,
          created: Date.now(),
          addresses: [],
        },
      };
      let outcome: Attempt = 'full';
      for (const pool of pools) {
        outcome =
          o.requested === undefined
            ? await this.allocateIn(pool, ctx)
            : await this.allocateRequested(pool, o.requested, ctx);
        if (outcome !== 'full') break;
      }
      if (outcome === 'full') {
        const names = poolNames.join(', ');
        throw o.requested === undefined
          ? new IpamError('POOL_EXHAUSTED', `no free address in pool ${names}`)
          : new IpamError('ADDRESS_UNAVAILABLE', `${o.requested} is not in pool ${names}`);
      }
      if ('ok' in outcome) return outcome.ok;
      // The handle changed under us (a concurrent ADD for the same attachment): start over from it.
      this.conflicts += 1;
      handle = outcome.handle;
    }
    throw new IpamError('CONFLICT', `gave up after ${this.maxAttempts} conflicting attempts`);
  }

  /** The node's claimed blocks of a pool, remembered between calls (claims change only here). */
  private async affineBlocks(pool: Pool): Promise<string[]> {
    const known = this.affinity.get(pool.name);
    if (known !== undefined) return known;
    const res = await this.client.get(this.keys.affinities(this.node, pool.name), {
      prefix: true,
      serializable: true,
    });
    const blocks = res.kvs.map((kv) => kv.value.toString());
    this.affinity.set(pool.name, blocks);
    return blocks;
  }

  private async allocateIn(pool: Pool, ctx: AllocContext): Promise<Attempt> {
    // 1. The node's own blocks.
    for (const blockKey of await this.affineBlocks(pool)) {
      const r = await this.takeFree(pool, blockKey, ctx);
      if (r !== 'full') return r;
    }
    // 2. A block nobody has claimed yet.
    for (let tries = 0; tries < this.maxAttempts; tries++) {
      const existing = await this.client.get(this.keys.blocks(pool.name), {
        prefix: true,
        keysOnly: true,
        serializable: true,
      });
      const taken = new Set(existing.kvs.map((kv) => kv.key.toString()));
      const count = blockCount(pool.cidr, pool.blockPrefix);
      const start = startOffset(this.node, count);
      let claim: Cidr | undefined;
      for (let i = 0n; i < count && claim === undefined; i++) {
        const cidr = nthBlock(pool.cidr, pool.blockPrefix, (start + i) % count);
        if (taken.has(this.keys.block(pool.name, blockName(formatCidr(cidr))))) continue;
        if (freeOrdinals(new Map(), cidr, pool, 0, 0).length > 0) claim = cidr;
      }
      if (claim === undefined) break;
      const r = await this.claim(pool, claim, ctx);
      if (r !== 'full') return r;
    }
    // 3. Borrow from any block of the pool.
    const all = await this.client.get(this.keys.blocks(pool.name), {
      prefix: true,
      keysOnly: true,
      serializable: true,
    });
    for (const kv of all.kvs) {
      const r = await this.takeFree(pool, kv.key.toString(), ctx);
      if (r !== 'full') return r;
    }
    return 'full';
  }

  /** Claims an unclaimed block for this node, taking its first free address in the same txn. */
  private async claim(pool: Pool, cidr: Cidr, ctx: AllocContext): Promise<Attempt> {
    const name = blockName(formatCidr(cidr));
    const blockKey = this.keys.block(pool.name, name);
    const affinityKey = this.keys.affinity(this.node, pool.name, name);
    const ordinal = freeOrdinals(new Map(), cidr, pool, 0, 0)[0] as number;
    const doc: BlockDoc = { cidr: formatCidr(cidr), affinity: this.node };
    // A block about to be created has no address keys: the cache starts empty (a failed claim
    // replaces it with what the block really holds).
    this.blockCache.set(blockKey, new Map());
    const r = await this.commit(
      pool,
      cidr,
      blockKey,
      ordinal,
      0,
      ctx,
      [compare.createRevision(blockKey).equal(0)],
      [op.put(blockKey, json(doc)), op.put(affinityKey, blockKey)],
    );
    // Another allocator created the block first: the caller looks for another.
    if (r === 'taken') return 'full';
    if (typeof r === 'object' && 'ok' in r)
      this.affinity.set(pool.name, [...(this.affinity.get(pool.name) ?? []), blockKey]);
    return r;
  }

  private async allocateRequested(pool: Pool, requested: string, ctx: AllocContext): Promise<Attempt> {
    let ip: { family: Family; value: bigint };
    try {
      ip = parseIp(requested);
    } catch (err) {
      throw new IpamError('ADDRESS_UNAVAILABLE', (err as Error).message);
    }
    if (!contains(pool.cidr, ip.family, ip.value)) return 'full';
    const cidr = blockOf(ip.family, ip.value, pool.blockPrefix);
    const name = blockName(formatCidr(cidr));
    const blockKey = this.keys.block(pool.name, name);
    const ordinal = ordinalOf(cidr, ip.value);
    for (let tries = 0; tries < this.maxAttempts; tries++) {
      const addresses = await this.readAddresses(pool, name);
      const why = blockedReason(addresses, cidr, pool, ordinal, Date.now(), this.cooldownMs);
      if (why !== undefined) throw new IpamError('ADDRESS_UNAVAILABLE', `${requested}: ${why}`);
      // A requested address may lie in a block nobody claimed: create it without affinity.
      const block = await this.client.get(blockKey, { serializable: true });
      const extra =
        block.kvs.length > 0
          ? { compares: [], ops: [] }
          : {
              compares: [compare.createRevision(blockKey).equal(0)],
              ops: [op.put(blockKey, json({ cidr: formatCidr(cidr), affinity: null } satisfies BlockDoc))],
            };
      const seen = addresses.get(ordinal)?.modRevision ?? 0;
      const r = await this.commit(pool, cidr, blockKey, ordinal, seen, ctx, extra.compares, extra.ops);
      if (r !== 'taken') return r;
    }
    throw new IpamError('CONFLICT', `gave up after ${this.maxAttempts} conflicting attempts`);
  }

  private async readAddresses(
    pool: Pool,
    name: string,
  ): Promise<Map<number, { doc: AddressDoc; modRevision: number }>> {
    const prefix = this.keys.addresses(pool.name, name);
    return addressMap(prefix, (await this.client.get(prefix, { prefix: true, serializable: true })).kvs);
  }

  /**
   * Takes a free address of an existing block: the lowest, so an uncontended node hands out
   * addresses in order; after losing a race, one at random among the lowest free, so allocators
   * racing in one block spread over different keys instead of colliding again.
   */
  private async takeFree(pool: Pool, blockKey: string, ctx: AllocContext): Promise<Attempt> {
    const name = blockKey.slice(this.keys.blocks(pool.name).length);
    const cidr = parseCidr(name.replace('-', '/'));
    for (let tries = 0; tries < this.maxAttempts; tries++) {
      const addresses = this.blockCache.get(blockKey) ?? (await this.readAddresses(pool, name));
      this.blockCache.set(blockKey, addresses);
      const free = freeOrdinals(addresses, cidr, pool, Date.now(), this.cooldownMs);
      if (free.length === 0) return 'full';
      const pick = tries === 0 ? 0 : Math.floor(Math.random() * Math.min(free.length, PICK_AMONG));
      const ordinal = free[pick] as number;
      const seen = addresses.get(ordinal)?.modRevision ?? 0;
      const r = await this.commit(pool, cidr, blockKey, ordinal, seen, ctx, [], []);
      if (r !== 'taken') return r;
      this.conflicts += 1;
    }
    throw new IpamError('CONFLICT', `gave up after ${this.maxAttempts} conflicting attempts`);
  }

  /**
   * The write that decides: the address key unchanged since read (`seen`), the handle unchanged,
   * plus the caller's conditions; on failure, the current handle comes back in the same answer.
   */
  private async commit(
    pool: Pool,
    cidr: Cidr,
    blockKey: string,
    ordinal: number,
    seen: number,
    ctx: AllocContext,
    compares: readonly Compare[],
    ops: readonly Op[],
  ): Promise<Attempt | 'taken'> {
    const name = blockKey.slice(this.keys.blocks(pool.name).length);
    const addressKey = this.keys.address(pool.name, name, ordinal);
    const record: AddressRecord = {
      pool: pool.name,
      block: name,
      ordinal,
      address: formatIp(cidr.family, addressAt(cidr, ordinal)),
      prefixLength: pool.cidr.prefix,
      gateway: pool.gateway === undefined ? null : formatIp(pool.family, pool.gateway),
      family: pool.family,
    };
    const handle: HandleDoc = { ...ctx.handle, addresses: [...ctx.handle.addresses, record] };
    const res = await this.client.commitTxn({
      compares: [
        compare.modRevision(addressKey).equal(seen),
        compare.modRevision(ctx.handleKey).equal(ctx.handleRev),
        ...compares,
      ],
      success: [
        op.put(addressKey, json({ h: ctx.handleKey } satisfies AddressDoc)),
        op.put(ctx.handleKey, json(handle)),
        ...ops,
      ],
      failure: [op.get(ctx.handleKey), op.get(this.keys.addresses(pool.name, name), { prefix: true })],
    });
    if (res.succeeded) {
      this.blockCache
        .get(blockKey)
        ?.set(ordinal, { doc: { h: ctx.handleKey }, modRevision: res.header.revision });
      return { ok: record };
    }
    const [gotHandle, gotAddresses] = res.responses;
    if (gotAddresses?.kind === 'get')
      this.blockCache.set(blockKey, addressMap(this.keys.addresses(pool.name, name), gotAddresses.get.kvs));
    const current = decode<HandleDoc>(gotHandle?.kind === 'get' ? gotHandle.get.kvs[0] : undefined);
    if ((current?.modRevision ?? 0) !== ctx.handleRev) return { handle: current };
    return 'taken';
  }

  /** Releases every address of the attachment; returns how many. Releasing nothing succeeds. */
  async release(h: HandleRef, o: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const handleKey = this.keys.handle(h);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      o.signal?.throwIfAborted();
      const handle = decode<HandleDoc>((await this.client.get(handleKey)).kvs[0]);
      if (handle === undefined) return 0;
      const compares = [compare.modRevision(handleKey).equal(handle.modRevision)];
      const ops: Op[] = [op.delete(handleKey)];
      const now = Date.now();
      for (const a of handle.doc.addresses) {
        const key = this.keys.address(a.pool, a.block, a.ordinal);
        const kv = (await this.client.get(key)).kvs[0];
        // Only addresses this handle really owns are freed: a stale record must not free another's.
        if (kv === undefined || ownerOf(JSON.parse(kv.value.toString()) as AddressDoc) !== handleKey)
          continue;
        compares.push(compare.modRevision(key).equal(kv.modRevision));
        ops.push(this.cooldownMs > 0 ? op.put(key, json({ r: now } satisfies AddressDoc)) : op.delete(key));
      }
      const res = await this.client.commitTxn({ compares, success: ops, failure: [] });
      if (res.succeeded) {
        for (const a of handle.doc.addresses)
          this.blockCache
            .get(this.keys.block(a.pool, a.block))
            ?.set(a.ordinal, { doc: { r: now }, modRevision: this.cooldownMs > 0 ? res.header.revision : 0 });
        return handle.doc.addresses.length;
      }
      this.conflicts += 1;
    }
    throw new IpamError('CONFLICT', `gave up after ${this.maxAttempts} conflicting attempts`);
  }

  /** Every handle recorded for a network. */
  async handles(network?: string): Promise<HandleDoc[]> {
    const res = await this.client.get(this.keys.handles(network), { prefix: true });
    return res.kvs.map((kv) => JSON.parse(kv.value.toString()) as HandleDoc);
  }

  /**
   * Releases the attachments of `network` that are not in `valid` and are older than `graceMs`
   * (an ADD still in progress is not yet in the runtime's list). Returns how many addresses were
   * released.
   */
  async gc(network: string, valid: readonly HandleRef[], graceMs = 60_000): Promise<number> {
    const keep = new Set(valid.map((h) => this.keys.handle({ ...h, network })));
    const now = Date.now();
    let released = 0;
    for (const h of await this.handles(network)) {
      if (keep.has(this.keys.handle(h)) || now - h.created < graceMs) continue;
      released += await this.release(h);
    }
    return released;
  }
}

interface AllocContext {
  readonly handleKey: string;
  readonly handleRev: number;
  readonly handle: HandleDoc;
}

function samePool(a: Pool, b: Pool): boolean {
  return (
    a.cidr.base === b.cidr.base &&
    a.cidr.prefix === b.cidr.prefix &&
    a.blockPrefix === b.blockPrefix &&
    a.rangeStart === b.rangeStart &&
    a.rangeEnd === b.rangeEnd &&
    a.gateway === b.gateway &&
    json(a.excluded.map((r) => [String(r.from), String(r.to)])) ===
      json(b.excluded.map((r) => [String(r.from), String(r.to)]))
  );
}

function addressMap(
  prefix: string,
  kvs: readonly KeyValue[],
): Map<number, { doc: AddressDoc; modRevision: number }> {
  const out = new Map<number, { doc: AddressDoc; modRevision: number }>();
  for (const kv of kvs)
    out.set(Number(kv.key.toString().slice(prefix.length)), {
      doc: JSON.parse(kv.value.toString()) as AddressDoc,
      modRevision: kv.modRevision,
    });
  return out;
}
