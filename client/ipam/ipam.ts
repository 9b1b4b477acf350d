// Cluster-wide IP address management over netcd, in the manner of Calico's block IPAM. A node
// claims whole blocks of a pool (a create-if-absent txn) and allocates from its own blocks
// first, so allocators on different nodes write different keys and do not contend; when its
// blocks are full it claims another, and when the pool has none left it borrows a free address
// from another node's block. Every change is one txn that compares the mod_revision of each key
// it read (the block, the attachment's handle) and writes both: an address is recorded in its
// block and in its owner's handle at the same revision or not at all. Conflicts are retried a
// bounded number of times from a fresh read.
//
// Handles — (network, container id, interface) — make allocate and release idempotent: a
// repeated ADD returns the address already recorded, a repeated DEL finds nothing to do.

import { hostname } from 'node:os';
import type { Netcd } from '../netcd.js';
import { compare, type Op, op } from '../txn.js';
import type { KeyValue } from '../wire.js';
import {
  addressAt,
  type BlockDoc,
  blockedReason,
  emptyBlock,
  ordinalOf,
  pickFree,
  withAllocation,
  withRelease,
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

type Attempt = { readonly ok: AddressRecord } | 'full' | 'conflict';

export class Ipam {
  readonly keys: IpamKeys;
  readonly node: string;
  private readonly cooldownMs: number;
  private readonly maxAttempts: number;
  private readonly pools = new Map<string, Pool>();

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
    const blocks = await this.client.get(this.keys.blocks(name), { prefix: true });
    for (const kv of blocks.kvs) {
      const doc = JSON.parse(kv.value.toString()) as BlockDoc;
      if (Object.keys(doc.allocations).length > 0)
        throw new IpamError('POOL_IN_USE', `pool ${name} still has allocations in block ${doc.cidr}`);
    }
    const ops: Op[] = [op.delete(this.keys.pool(name)), op.delete(this.keys.blocks(name), { prefix: true })];
    const compares = blocks.kvs.map((kv) => compare.modRevision(kv.key).equal(kv.modRevision));
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
   */
  async allocate(
    h: HandleRef,
    poolNames: readonly string[],
    o: { readonly requested?: string; readonly signal?: AbortSignal } = {},
  ): Promise<AddressRecord> {
    if (poolNames.length === 0) throw new IpamError('POOL_NOT_FOUND', 'no pool given');
    const pools = await Promise.all(poolNames.map((n) => this.getPool(n)));
    const handleKey = this.keys.handle(h);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      o.signal?.throwIfAborted();
      const handle = decode<HandleDoc>((await this.client.get(handleKey)).kvs[0]);
      const held = handle?.doc.addresses.find((a) => poolNames.includes(a.pool));
      if (held !== undefined) return held;
      const base: HandleDoc = handle?.doc ?? {
        network: h.network,
        containerId: h.containerId,
        ifname: h.ifname,
        node: this.node,
        created: Date.now(),
        addresses: [],
      };
      const context = { handleKey, handleRev: handle?.modRevision ?? 0, handle: base };
      let conflict = false;
      for (const pool of pools) {
        const r =
          o.requested === undefined
            ? await this.allocateIn(pool, context)
            : await this.allocateRequested(pool, o.requested, context);
        if (r === 'conflict') {
          conflict = true;
          break;
        }
        if (r !== 'full') return r.ok;
      }
      if (!conflict) {
        const names = poolNames.join(', ');
        throw o.requested === undefined
          ? new IpamError('POOL_EXHAUSTED', `no free address in pool ${names}`)
          : new IpamError('ADDRESS_UNAVAILABLE', `${o.requested} is not in pool ${names}`);
      }
    }
    throw new IpamError('CONFLICT', `gave up after ${this.maxAttempts} conflicting attempts`);
  }

  private async allocateIn(pool: Pool, ctx: AllocContext): Promise<Attempt> {
    // 1. The node's own blocks.
    const affine = await this.client.get(this.keys.affinities(this.node, pool.name), { prefix: true });
    for (const a of affine.kvs) {
      const block = decode<BlockDoc>((await this.client.get(a.value)).kvs[0]);
      if (block === undefined || block.doc.affinity !== this.node) continue;
      const r = await this.takeFree(pool, block, ctx);
      if (r !== 'full') return r;
    }
    // 2. A block nobody has claimed yet.
    const existing = await this.client.get(this.keys.blocks(pool.name), { prefix: true, keysOnly: true });
    const taken = new Set(existing.kvs.map((kv) => kv.key.toString()));
    const count = blockCount(pool.cidr, pool.blockPrefix);
    const start = startOffset(this.node, count);
    for (let i = 0n; i < count; i++) {
      const cidr = nthBlock(pool.cidr, pool.blockPrefix, (start + i) % count);
      const name = blockName(formatCidr(cidr));
      const key = this.keys.block(pool.name, name);
      if (taken.has(key)) continue;
      const doc = emptyBlock(formatCidr(cidr), this.node);
      if (pickFree(doc, cidr, pool, Date.now(), this.cooldownMs) === undefined) continue;
      return this.takeFree(
        pool,
        { doc, modRevision: 0, key },
        ctx,
        this.keys.affinity(this.node, pool.name, name),
      );
    }
    // 3. Borrow from any block of the pool.
    const all = await this.client.get(this.keys.blocks(pool.name), { prefix: true });
    for (const kv of all.kvs) {
      const r = await this.takeFree(pool, decode<BlockDoc>(kv) as Versioned<BlockDoc>, ctx);
      if (r !== 'full') return r;
    }
    return 'full';
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
    const key = this.keys.block(pool.name, blockName(formatCidr(cidr)));
    const block = decode<BlockDoc>((await this.client.get(key)).kvs[0]) ?? {
      doc: emptyBlock(formatCidr(cidr), null),
      modRevision: 0,
      key,
    };
    const ordinal = ordinalOf(cidr, ip.value);
    const why = blockedReason(block.doc, cidr, pool, ordinal, Date.now(), this.cooldownMs);
    if (why !== undefined) throw new IpamError('ADDRESS_UNAVAILABLE', why);
    return this.commit(pool, block, cidr, ordinal, ctx);
  }

  private async takeFree(
    pool: Pool,
    block: Versioned<BlockDoc>,
    ctx: AllocContext,
    claimAffinity?: string,
  ): Promise<Attempt> {
    const cidr = parseCidr(block.doc.cidr);
    const ordinal = pickFree(block.doc, cidr, pool, Date.now(), this.cooldownMs);
    if (ordinal === undefined) return 'full';
    return this.commit(pool, block, cidr, ordinal, ctx, claimAffinity);
  }

  private async commit(
    pool: Pool,
    block: Versioned<BlockDoc>,
    cidr: Cidr,
    ordinal: number,
    ctx: AllocContext,
    claimAffinity?: string,
  ): Promise<Attempt> {
    const record: AddressRecord = {
      pool: pool.name,
      block: blockName(block.doc.cidr),
      ordinal,
      address: formatIp(cidr.family, addressAt(cidr, ordinal)),
      prefixLength: pool.cidr.prefix,
      gateway: pool.gateway === undefined ? null : formatIp(pool.family, pool.gateway),
      family: pool.family,
    };
    const doc = withAllocation(block.doc, ordinal, ctx.handleKey, Date.now(), this.cooldownMs);
    const handle: HandleDoc = { ...ctx.handle, addresses: [...ctx.handle.addresses, record] };
    const ops = [op.put(block.key, json(doc)), op.put(ctx.handleKey, json(handle))];
    if (claimAffinity !== undefined) ops.push(op.put(claimAffinity, block.key));
    const res = await this.client.commitTxn({
      compares: [
        compare.modRevision(block.key).equal(block.modRevision),
        compare.modRevision(ctx.handleKey).equal(ctx.handleRev),
      ],
      success: ops,
      failure: [],
    });
    return res.succeeded ? { ok: record } : 'conflict';
  }

  /** Releases every address of the attachment; returns how many. Releasing nothing succeeds. */
  async release(h: HandleRef, o: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const handleKey = this.keys.handle(h);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      o.signal?.throwIfAborted();
      const handle = decode<HandleDoc>((await this.client.get(handleKey)).kvs[0]);
      if (handle === undefined) return 0;
      const byBlock = new Map<string, number[]>();
      for (const a of handle.doc.addresses) {
        const key = this.keys.block(a.pool, a.block);
        byBlock.set(key, [...(byBlock.get(key) ?? []), a.ordinal]);
      }
      const compares = [compare.modRevision(handleKey).equal(handle.modRevision)];
      const ops: Op[] = [op.delete(handleKey)];
      const now = Date.now();
      for (const [key, ordinals] of byBlock) {
        const block = decode<BlockDoc>((await this.client.get(key)).kvs[0]);
        if (block === undefined) continue;
        // Only addresses this handle really owns are freed: a stale record must not free another's.
        const owned = ordinals.filter((ord) => block.doc.allocations[ord] === handleKey);
        if (owned.length === 0) continue;
        compares.push(compare.modRevision(key).equal(block.modRevision));
        ops.push(op.put(key, json(withRelease(block.doc, owned, now, this.cooldownMs))));
      }
      const res = await this.client.commitTxn({ compares, success: ops, failure: [] });
      if (res.succeeded) return handle.doc.addresses.length;
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
