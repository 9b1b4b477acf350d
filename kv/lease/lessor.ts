// The replicated lease table: part of the state machine, changed only by applying raft entries, so
// every member holds the same leases, TTLs, checkpointed remaining times and attached keys. It never
// reads a clock: time enters only as `remainingMs` values the leader measured and put in the log.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KvError } from '../errors.js';
import { keyBytes, keyString } from '../keys.js';
import type { Bytes } from '../types.js';

/** etcd's MaxLeaseTTL: larger grants fail with LEASE_TTL_TOO_LARGE (9e12 ms is still an exact number). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;
/** etcd's default minimum TTL: (3 * 10 election ticks / 2) * 100 ms heartbeat = 1.5 s, rounded up. */
export const DEFAULT_MIN_TTL_SECONDS = 2;
const MS_PER_SECOND = 1000;

/**
 * etcd's minLeaseTTL: a lease must outlive one election plus a margin, otherwise a leader change
 * alone expires it. minTTL = floor(3 * electionTicks / 2) heartbeats, in whole seconds rounded up.
 */
export function minTtlSecondsFor(electionTimeoutMs: number, heartbeatIntervalMs: number): number {
  assert(
    heartbeatIntervalMs > 0 && electionTimeoutMs >= heartbeatIntervalMs,
    'election timeout >= heartbeat > 0',
  );
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
  const minTtlMs = Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs;
  return Math.max(1, Math.ceil(minTtlMs / MS_PER_SECOND));
}

export interface LeaseTableOptions {
  /**
   * Grants below this are raised to it (etcd's minLeaseTTL; default 2 s). Part of the replicated
   * behaviour: it must be the same on every member, like the election timeout it derives from.
   */
  readonly minTtlSeconds?: number;
}

export interface LeaseInfo {
  readonly id: number;
  /** The granted TTL, after raising to the minimum. */
  readonly ttlSeconds: number;
  /** Remaining TTL as of the last checkpoint (or the grant, or a replicated renewal). */
  readonly remainingMs: number;
  readonly keyCount: number;
}

export interface LeaseTimeToLive {
  readonly id: number;
  readonly grantedTtlSeconds: number;
  /** As last checkpointed; the leader's LeaseExpiry knows the live value. */
  readonly remainingMs: number;
  /** Attached keys in byte order; empty unless asked for. */
  readonly keys: readonly Bytes[];
}

export interface LeaseCheckpoint {
  readonly id: number;
  readonly remainingMs: number;
}

interface LeaseRecord {
  readonly id: number;
  readonly ttlSeconds: number;
  remainingMs: number;
  /** Attached keys as latin1 strings (string order = byte order, see keys.ts). */
  readonly keys: Set<string>;
}

// Snapshot layout (all integers big-endian): "NLT" + version byte, u32 lease count, then per lease
// in ascending id: u64 id, u64 ttlSeconds, u64 remainingMs, u32 key count, per key in byte order
// u32 length + bytes. Sorting makes the bytes a pure function of the state.
const SNAPSHOT_MAGIC = [0x4e, 0x4c, 0x54] as const;
const SNAPSHOT_VERSION = 1;
const HEADER_BYTES = 8;
const LEASE_HEADER_BYTES = 28;
const KEY_HEADER_BYTES = 4;
const U32 = 2 ** 32;

/** A lease id is a positive safe integer; 0 is etcd's NoLease, which never names a lease. */
function checkId(id: number): void {
  if (id === 0) throw new KvError('LEASE_NOT_FOUND');
  if (!Number.isSafeInteger(id) || id < 0) throw new KvError('BAD_REQUEST', `lease id ${id}`);
}

export class LeaseTable {
  readonly minTtlSeconds: number;
  private readonly leases = new Map<number, LeaseRecord>();
  /** key → lease id: a key belongs to at most one lease. */
  private readonly owner = new Map<string, number>();

  constructor(options: LeaseTableOptions = {}) {
    const minTtlSeconds = options.minTtlSeconds ?? DEFAULT_MIN_TTL_SECONDS;
    if (!Number.isSafeInteger(minTtlSeconds) || minTtlSeconds < 1 || minTtlSeconds > MAX_LEASE_TTL_SECONDS)
      throw new RangeError(`minTtlSeconds must be an integer in [1, ${MAX_LEASE_TTL_SECONDS}]`);
    this.minTtlSeconds = minTtlSeconds;
  }

  get size(): number {
    return this.leases.size;
  }

  /**
   * Creates lease `id` (chosen by the proposer, never here: apply must not invent ids). Checks in
   * etcd's order: id 0 → LEASE_NOT_FOUND, TTL > max → LEASE_TTL_TOO_LARGE, taken → LEASE_EXISTS.
   */
  grant(id: number, ttlSeconds: number): LeaseInfo {
    checkId(id);
    if (!Number.isSafeInteger(ttlSeconds)) throw new KvError('BAD_REQUEST', `lease TTL ${ttlSeconds}`);
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new KvError('LEASE_TTL_TOO_LARGE');
    if (this.leases.has(id)) throw new KvError('LEASE_EXISTS');
    const ttl = Math.max(ttlSeconds, this.minTtlSeconds);
    const rec: LeaseRecord = { id, ttlSeconds: ttl, remainingMs: ttl * MS_PER_SECOND, keys: new Set() };
    this.leases.set(id, rec);
    return info(rec);
  }

  /**
   * Removes the lease and returns its keys in byte order; the caller (MVCC apply) deletes them all
   * in one revision. The keys are detached here already, so the store's detach calls for them are
   * no-ops (the lease is gone), and a revoke cannot leave a key pointing at a dead lease.
   */
  revoke(id: number): Bytes[] {
    const rec = this.require(id);
    const keys = [...rec.keys].sort();
    for (const k of keys) this.owner.delete(k);
    this.leases.delete(id);
    return keys.map(keyBytes);
  }

  has(id: number): boolean {
    return this.leases.has(id);
  }

  get(id: number): LeaseInfo | undefined {
    const rec = this.leases.get(id);
    return rec === undefined ? undefined : info(rec);
  }

  /** Every lease id, ascending (etcd's LeaseLeases). */
  list(): number[] {
    return [...this.leases.keys()].sort((a, b) => a - b);
  }

  /** Every lease, in no particular order; for the leader's expiry tracker. */
  *entries(): IterableIterator<LeaseInfo> {
    for (const rec of this.leases.values()) yield info(rec);
  }

  /** Attached keys in byte order (the table is unchanged; see revoke for the deleting variant). */
  keys(id: number): Bytes[] {
    return [...this.require(id).keys].sort().map(keyBytes);
  }

  /** The lease a key is attached to, 0 for none. */
  leaseOf(key: Bytes): number {
    return this.owner.get(keyString(key)) ?? 0;
  }

  /** Attaches `key` to lease `id`, moving it off any other lease (a put with a new lease). */
  attach(id: number, key: Bytes): void {
    const rec = this.require(id);
    const k = keyString(key);
    const previous = this.owner.get(k);
    if (previous === id) return;
    if (previous !== undefined) this.leases.get(previous)?.keys.delete(k);
    rec.keys.add(k);
    this.owner.set(k, id);
  }

  /**
   * Detaches `key` from lease `id`. Returns false, changing nothing, when the lease is gone (it was
   * revoked, which detached its keys) or the key is not attached to it.
   */
  detach(id: number, key: Bytes): boolean {
    const rec = this.leases.get(id);
    if (rec === undefined) return false;
    const k = keyString(key);
    if (!rec.keys.delete(k)) return false;
    this.owner.delete(k);
    return true;
  }

  /**
   * Records the remaining TTL the leader measured when it proposed this entry. Returns false for a
   * lease revoked since (etcd ignores those too). A value above the granted TTL can only come from a
   * broken proposer, so it is refused rather than silently extending the lease.
   */
  checkpoint(id: number, remainingMs: number): boolean {
    const rec = this.leases.get(id);
    if (rec === undefined) return false;
    checkRemaining(rec, remainingMs);
    rec.remainingMs = remainingMs;
    return true;
  }

  /**
   * Applies one LeaseCheckpoint entry: every item is validated first, so a malformed entry changes
   * nothing. Returns how many leases were updated (revoked ones are skipped).
   */
  applyCheckpoints(items: readonly LeaseCheckpoint[]): number {
    for (const { id, remainingMs } of items) {
      const rec = this.leases.get(id);
      if (rec !== undefined) checkRemaining(rec, remainingMs);
    }
    let applied = 0;
    for (const { id, remainingMs } of items) if (this.checkpoint(id, remainingMs)) applied++;
    return applied;
  }

  /**
   * A replicated renewal: remaining goes back to the full TTL. LeaseExpiry expresses renewals as
   * checkpoints with the exact remaining time instead; this exists for a log that carries renewals
   * as their own entry. Returns false for a revoked lease.
   */
  renewed(id: number): boolean {
    const rec = this.leases.get(id);
    if (rec === undefined) return false;
    rec.remainingMs = rec.ttlSeconds * MS_PER_SECOND;
    return true;
  }

  /**
   * Every lease's remaining time back to its full TTL. A cluster restored from a snapshot starts
   * timing each lease afresh, as etcd does: the old cluster's checkpoints measured a clock that
   * stopped when the snapshot was taken, and holders need a full TTL to find the new cluster.
   */
  renewAll(): void {
    for (const rec of this.leases.values()) rec.remainingMs = rec.ttlSeconds * MS_PER_SECOND;
  }

  timeToLive(id: number, options: { readonly keys?: boolean } = {}): LeaseTimeToLive {
    const rec = this.require(id);
    return {
      id,
      grantedTtlSeconds: rec.ttlSeconds,
      remainingMs: rec.remainingMs,
      keys: options.keys === true ? [...rec.keys].sort().map(keyBytes) : [],
    };
  }

  /** A byte-exact encoding of the whole table: equal states give equal bytes, on every member. */
  snapshot(): Uint8Array {
    const ids = this.list();
    const sortedKeys = new Map<number, string[]>();
    let size = HEADER_BYTES;
    for (const id of ids) {
      const keys = [...this.leases.get(id)!.keys].sort();
      sortedKeys.set(id, keys);
      size += LEASE_HEADER_BYTES;
      for (const k of keys) size += KEY_HEADER_BYTES + k.length;
    }
    const buf = Buffer.alloc(size);
    buf.set(SNAPSHOT_MAGIC, 0);
    buf.writeUInt8(SNAPSHOT_VERSION, 3);
    buf.writeUInt32BE(ids.length, 4);
    let at = HEADER_BYTES;
    for (const id of ids) {
      const rec = this.leases.get(id)!;
      const keys = sortedKeys.get(id)!;
      at = writeU64(buf, at, id);
      at = writeU64(buf, at, rec.ttlSeconds);
      at = writeU64(buf, at, rec.remainingMs);
      at = buf.writeUInt32BE(keys.length, at);
      for (const k of keys) {
        at = buf.writeUInt32BE(k.length, at);
        at += buf.write(k, at, 'latin1');
      }
    }
    assert(at === size, 'lease snapshot size');
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Rebuilds a table from `snapshot()` bytes; anything malformed is CORRUPT, never half-loaded. */
  static restore(bytes: Uint8Array, options: LeaseTableOptions = {}): LeaseTable {
    const table = new LeaseTable(options);
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const corrupt = (what: string): KvError => new KvError('CORRUPT', `lease snapshot: ${what}`);
    const need = (at: number, n: number): void => {
      if (at + n > buf.length) throw corrupt('truncated');
    };
    need(0, HEADER_BYTES);
    if (buf[0] !== SNAPSHOT_MAGIC[0] || buf[1] !== SNAPSHOT_MAGIC[1] || buf[2] !== SNAPSHOT_MAGIC[2])
      throw corrupt('bad magic');
    if (buf[3] !== SNAPSHOT_VERSION) throw corrupt(`unknown version ${buf[3]}`);
    const count = buf.readUInt32BE(4);
    let at = HEADER_BYTES;
    let lastId = 0;
    for (let i = 0; i < count; i++) {
      need(at, LEASE_HEADER_BYTES);
      const id = readU64(buf, at);
      const ttlSeconds = readU64(buf, at + 8);
      const remainingMs = readU64(buf, at + 16);
      const keyCount = buf.readUInt32BE(at + 24);
      at += LEASE_HEADER_BYTES;
      if (id === undefined || id <= lastId) throw corrupt('lease ids not ascending');
      if (ttlSeconds === undefined || ttlSeconds < 1 || ttlSeconds > MAX_LEASE_TTL_SECONDS)
        throw corrupt(`lease ${id} TTL`);
      if (remainingMs === undefined || remainingMs > ttlSeconds * MS_PER_SECOND)
        throw corrupt(`lease ${id} remaining`);
      lastId = id;
      const rec: LeaseRecord = { id, ttlSeconds, remainingMs, keys: new Set() };
      let lastKey: string | undefined;
      for (let j = 0; j < keyCount; j++) {
        need(at, KEY_HEADER_BYTES);
        const length = buf.readUInt32BE(at);
        at += KEY_HEADER_BYTES;
        need(at, length);
        const k = buf.toString('latin1', at, at + length);
        at += length;
        if (lastKey !== undefined && k <= lastKey) throw corrupt(`lease ${id} keys not ascending`);
        if (table.owner.has(k)) throw corrupt(`key on two leases (${id})`);
        lastKey = k;
        rec.keys.add(k);
        table.owner.set(k, id);
      }
      table.leases.set(id, rec);
    }
    if (at !== buf.length) throw corrupt('trailing bytes');
    return table;
  }

  /** This table's contribution to the member hash: the first 32 bits of SHA-256 over the snapshot. */
  hash(): number {
    return createHash('sha256').update(this.snapshot()).digest().readUInt32BE(0);
  }

  private require(id: number): LeaseRecord {
    checkId(id);
    const rec = this.leases.get(id);
    if (rec === undefined) throw new KvError('LEASE_NOT_FOUND');
    return rec;
  }
}

function info(rec: LeaseRecord): LeaseInfo {
  return { id: rec.id, ttlSeconds: rec.ttlSeconds, remainingMs: rec.remainingMs, keyCount: rec.keys.size };
}

function checkRemaining(rec: LeaseRecord, remainingMs: number): void {
  if (!Number.isSafeInteger(remainingMs) || remainingMs < 0 || remainingMs > rec.ttlSeconds * MS_PER_SECOND)
    throw new KvError('BAD_REQUEST', `lease ${rec.id} checkpoint remaining ${remainingMs} ms`);
}

function writeU64(buf: Buffer, at: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'u64 field is a non-negative safe integer');
  buf.writeUInt32BE(Math.floor(value / U32), at);
  return buf.writeUInt32BE(value % U32, at + 4);
}

/** undefined when the value does not fit an exact JavaScript number. */
function readU64(buf: Buffer, at: number): number | undefined {
  const value = buf.readUInt32BE(at) * U32 + buf.readUInt32BE(at + 4);
  return Number.isSafeInteger(value) ? value : undefined;
}
