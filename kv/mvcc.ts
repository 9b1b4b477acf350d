// The multi-version store: every key's history (KeyIndex) and every stored version (RevisionLog),
// with etcd's Range, Put, DeleteRange, Txn and Compact semantics. Deterministic: the same
// sequence of calls gives the same state, revisions and hash on every member. A write
// transaction is atomic: if any op fails, every change it made is rolled back.

import { createHash } from 'node:crypto';
import { BTree } from './btree.js';
import { KvError } from './errors.js';
import { KeyIndex, type VisibleRevision } from './key-index.js';
import { bytesCompare, inInterval, type KeyInterval, keyInterval, keyString } from './keys.js';
import { RevisionLog, type StoredKv } from './revision-log.js';
import { type Order, TopK } from './top-k.js';
import type {
  Bytes,
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  Revision,
  TxnRequest,
  TxnResponse,
} from './types.js';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  keyValueBytes,
  RESPONSE_HEADER_MAX_BYTES,
  rangeEntryBytes,
  rangeEnvelopeBytes,
} from './wire-size.js';

/** A kv competing for a place in a sorted read with a limit, and where to read its value. */
interface Candidate {
  readonly kv: KeyValue;
  readonly v: VisibleRevision;
}

/** What the store needs of the lease table: existence and key attachment. */
export interface LeaseHooks {
  has(id: number): boolean;
  attach(id: number, key: Bytes): void;
  detach(id: number, key: Bytes): void;
}

/** A change for the durable backend, in the order it happened. */
export type StoreMutation =
  | { readonly op: 'put'; readonly record: StoredKv }
  | { readonly op: 'delete'; readonly rev: Revision };

/** How a read is served, beside the request itself. */
export interface RangeOptions {
  /**
   * Bound on the response's encoded size (`kv/wire-size.ts`): a larger response is refused with
   * RESPONSE_TOO_LARGE and never built whole. Default DEFAULT_MAX_RESPONSE_BYTES, etcd's gRPC
   * send limit; the server passes its own.
   */
  readonly maxResponseBytes?: number;
}

export interface StoreObserver {
  /** Events of one committed write revision (prevKv always filled where a previous version exists). */
  onCommit(revision: number, events: readonly Event[]): void;
}

const EMPTY = new Uint8Array(0);
/** Bound on how many keys one compaction step visits, so compaction never stalls apply. */
export const COMPACTION_BATCH_KEYS = 10_000;

/**
 * A compaction whose old versions are still being removed: every key up to and including `after`
 * (null: none yet) has been compacted to `target`. Logically the compaction is complete as soon as
 * it is applied — reads below `target` fail at once — the cursor only tracks the physical cleanup.
 */
export interface CompactionCursor {
  readonly target: number;
  readonly after: string | null;
}
/**
 * A new store's revision, as in etcd: revision 1 is the empty store (readable, holding no change),
 * so the first write makes revision 2.
 */
export const INITIAL_REVISION = 1;
/**
 * The compact revision of a store never compacted, as in etcd (its compactMainRev starts at -1):
 * compaction at revision 0 then succeeds once, and sets it to 0.
 */
export const NEVER_COMPACTED = -1;

interface TxnState {
  readonly rev: number;
  sub: number;
  readonly events: Event[];
  readonly touched: Set<string>;
  readonly leaseUndo: (() => void)[];
  readonly writes: KeyInterval[];
}

/** The branch a txn takes, and those of the nested txns in that branch, in order. */
interface TxnPath {
  readonly succeeded: boolean;
  readonly nested: readonly TxnPath[];
}

/** The range, put and delete ops a txn runs along `path`, in order, nested ones in place. */
function* opsOnPath(req: TxnRequest, path: TxnPath): Generator<RequestOp> {
  let nested = 0;
  for (const op of path.succeeded ? req.success : req.failure) {
    if ('txn' in op) yield* opsOnPath(op.txn, path.nested[nested++]!);
    else yield op;
  }
}

export class MvccStore {
  private index: BTree<string, KeyIndex> = new BTree<string, KeyIndex>();
  private revisions = new RevisionLog();
  private current = INITIAL_REVISION;
  private compacted = NEVER_COMPACTED;
  /** Bytes of every stored version (keys, values and a fixed overhead): the quota's measure. */
  private usage = 0;
  /** Durable changes not yet handed to the backend. */
  private pending: StoreMutation[] = [];
  /** The physical cleanup of the last compaction, while keys remain to be visited. */
  private compacting: CompactionCursor | null = null;
  /** Keys one compaction step visits (COMPACTION_BATCH_KEYS; smaller in tests). */
  compactionBatchKeys = COMPACTION_BATCH_KEYS;
  leases: LeaseHooks | null = null;
  observer: StoreObserver | null = null;

  get currentRevision(): number {
    return this.current;
  }

  /** Reads below it fail with COMPACTED; NEVER_COMPACTED (-1) until the first compaction. */
  get compactRevision(): number {
    return this.compacted;
  }

  /** The cleanup still to do after a compaction, or null. Part of the replicated state. */
  get compaction(): CompactionCursor | null {
    return this.compacting;
  }

  /** Live data in bytes: every version still stored, whatever the backend's file sizes. */
  get usageBytes(): number {
    return this.usage;
  }

  /** Takes the changes made since the last call, for one atomic backend write. */
  drainMutations(): StoreMutation[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  // ---- reads ----

  /** The version as a KeyValue; `withValue` false leaves the value empty, without reading it. */
  private toKeyValue(rec: StoredKv, version: number, withValue = true): KeyValue {
    return {
      key: rec.key,
      createRevision: rec.createRevision,
      modRevision: rec.modRevision,
      version,
      value: withValue ? rec.value : EMPTY,
      lease: rec.lease,
    };
  }

  /** Visits keys of an interval in key order with the revision visible at `rev`. */
  private *visible(iv: KeyInterval, rev: number): Generator<[KeyIndex, VisibleRevision]> {
    if (iv.end === null) {
      const ki = this.index.get(iv.start);
      const v = ki?.get(rev);
      if (ki !== undefined && v != null) yield [ki, v];
      return;
    }
    for (const [k, ki] of this.index.entries(iv.start)) {
      if (!iv.toEnd && k >= iv.end) return;
      const v = ki.get(rev);
      if (v !== null) yield [ki, v];
    }
  }

  private recordAt(v: VisibleRevision): StoredKv {
    const rec = this.revisions.get(v.modified);
    if (rec === undefined)
      throw new KvError('CORRUPT', `missing revision ${v.modified.main}.${v.modified.sub}`);
    return rec;
  }

  private kvAt(v: VisibleRevision, withValue = true): KeyValue {
    return this.toKeyValue(this.recordAt(v), v.version, withValue);
  }

  /** The encoded size of the version as a RangeResponse entry, without building it. */
  private entryBytesAt(v: VisibleRevision, keysOnly: boolean): number {
    const rec = this.recordAt(v);
    const sized = {
      key: rec.key,
      createRevision: rec.createRevision,
      modRevision: rec.modRevision,
      version: v.version,
      lease: rec.lease,
    };
    return rangeEntryBytes(keyValueBytes(sized, keysOnly ? 0 : rec.value.length));
  }

  range(req: RangeRequest, o: RangeOptions = {}): RangeResponse {
    return this.rangeAt(req, this.current, o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  }

  /**
   * A range as etcd runs it at `curRev` (the store's revision, or a write txn's own once it wrote):
   * revision 0 or below reads at curRev, and the header carries curRev whatever revision was read.
   *
   * Memory stays within the response: `count` walks the key index and reads no version; a count-only
   * read holds nothing, a limit holds at most `limit` kvs (the first ones, or with a sort order the
   * best so far), and keys-only reads no value unless it sorts by value. Without a limit every
   * matching kv is the response: once the encoded size passes `maxResponseBytes` the kvs are
   * dropped and only the size is counted on, for the error.
   */
  private rangeAt(req: RangeRequest, curRev: number, maxResponseBytes: number): RangeResponse {
    if (req.key.length === 0) throw new KvError('EMPTY_KEY');
    const asked = req.revision ?? 0;
    if (asked > curRev) throw new KvError('FUTURE_REV');
    const rev = asked <= 0 ? curRev : asked;
    if (rev < this.compacted) throw new KvError('COMPACTED');
    const iv = keyInterval(req.key, req.rangeEnd);
    if (req.countOnly === true) {
      // Filters do not change count (etcd), so nothing but the key index is read.
      let count = 0;
      for (const _ of this.visible(iv, rev)) count++;
      return { revision: curRev, kvs: [], more: false, count };
    }
    // A negative limit is no limit, as in etcd.
    const limit = Math.max(req.limit ?? 0, 0);
    const keep = revisionFilter(req);
    let sortOrder = req.sortOrder ?? 'none';
    const sortTarget = req.sortTarget ?? 'key';
    if (sortTarget !== 'key' && sortOrder === 'none') sortOrder = 'ascend';
    const cmp = sortComparator(sortTarget);
    // Key order is the walk's own: no sort needed.
    const order: Order<KeyValue> | null =
      sortOrder === 'none' || (sortOrder === 'ascend' && sortTarget === 'key')
        ? null
        : sortOrder === 'ascend'
          ? cmp
          : (a, b) => cmp(b, a);
    const keysOnly = req.keysOnly === true;
    // Values are read to be sent, or to sort by; a sorted read with a limit reads those it sends
    // once it knows them.
    const sortsByValue = order !== null && sortTarget === 'value';
    const withValues = !keysOnly || sortsByValue;
    const entryBytes = (kv: KeyValue): number =>
      rangeEntryBytes(keyValueBytes(kv, keysOnly ? 0 : kv.value.length));

    let count = 0;
    let matched = 0;
    const best = order !== null && limit > 0 ? new TopK<Candidate>(limit, (a, b) => order(a.kv, b.kv)) : null;
    /** Kvs in key order, unless `best` holds them; null once past the bound. */
    let kvs: KeyValue[] | null = best === null ? [] : null;
    let kvBytes = 0;
    for (const [, v] of this.visible(iv, rev)) {
      count++;
      if (keep !== null && !keep(v)) continue;
      matched++;
      if (best !== null) {
        best.offer({ kv: this.kvAt(v, sortsByValue), v });
        continue;
      }
      // Past the limit in key order only `more` is left to learn, and matched tells it.
      if (limit > 0 && matched > limit) continue;
      if (kvs === null) {
        kvBytes += this.entryBytesAt(v, keysOnly);
        continue;
      }
      const kv = this.kvAt(v, withValues);
      kvBytes += entryBytes(kv);
      kvs.push(kv);
      if (kvBytes + RESPONSE_HEADER_MAX_BYTES > maxResponseBytes) kvs = null;
    }
    if (best !== null) {
      kvs = best.sorted().map((c) => (withValues && !sortsByValue ? this.kvAt(c.v) : c.kv));
      kvBytes = kvs.reduce((n, kv) => n + entryBytes(kv), 0);
    } else if (kvs !== null && order !== null) kvs.sort(order);
    const more = limit > 0 && matched > limit;
    const bytes = kvBytes + rangeEnvelopeBytes(more, count);
    if (kvs === null || bytes > maxResponseBytes)
      throw new KvError('RESPONSE_TOO_LARGE', `(${bytes} vs. ${maxResponseBytes})`);
    if (keysOnly && withValues) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { revision: curRev, kvs, more, count };
  }

  // ---- writes ----

  put(req: PutRequest): PutResponse {
    // A plain put checks its lease before its ignore flags (etcd's Put); a txn checks each put the
    // other way round.
    this.checkLease(req.lease ?? 0);
    const r = this.txn({ compare: [], success: [{ put: req }], failure: [] });
    const first = r.responses[0];
    if (first === undefined || !('put' in first)) throw new KvError('CORRUPT', 'put response missing');
    return { ...first.put, revision: r.revision };
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    const r = this.txn({ compare: [], success: [{ deleteRange: req }], failure: [] });
    const first = r.responses[0];
    if (first === undefined || !('deleteRange' in first))
      throw new KvError('CORRUPT', 'delete response missing');
    return { ...first.deleteRange, revision: r.revision };
  }

  /**
   * Executes a transaction atomically; read-only ones do not create a revision. Like etcd, all that
   * decides its course is settled against the store as it was before it: every compare on the path
   * taken (nested txns' too), then the checks that could fail it half-way, in etcd's order — the
   * puts' ignore flags and leases, then the ranges' revisions.
   */
  txn(req: TxnRequest): TxnResponse {
    const path = this.choosePath(req);
    for (const op of opsOnPath(req, path)) if ('put' in op) this.checkPut(op.put);
    for (const op of opsOnPath(req, path)) if ('range' in op) this.checkRangeRevision(op.range.revision ?? 0);
    const st: TxnState = {
      rev: this.current + 1,
      sub: 0,
      events: [],
      touched: new Set(),
      leaseUndo: [],
      writes: [],
    };
    let resp: TxnResponse;
    try {
      resp = this.execTxn(req, path, st);
    } catch (err) {
      this.rollback(st);
      throw err;
    }
    if (st.sub > 0) {
      this.current = st.rev;
      this.observer?.onCommit(st.rev, st.events);
    }
    return { ...resp, revision: this.current };
  }

  /** Which branch the txn and each nested txn on its way take, judged on the current revision. */
  private choosePath(req: TxnRequest): TxnPath {
    const succeeded = req.compare.every((c) => this.evalCompare(c, this.current));
    const ops = succeeded ? req.success : req.failure;
    return { succeeded, nested: ops.flatMap((op) => ('txn' in op ? [this.choosePath(op.txn)] : [])) };
  }

  private checkLease(id: number): void {
    if (id !== 0 && (this.leases === null || !this.leases.has(id))) throw new KvError('LEASE_NOT_FOUND');
  }

  private checkPut(req: PutRequest): void {
    if (req.ignoreValue === true || req.ignoreLease === true) {
      if ((this.index.get(keyString(req.key))?.get(this.current) ?? null) === null)
        throw new KvError('KEY_NOT_FOUND');
    }
    this.checkLease(req.lease ?? 0);
  }

  /** Revisions up to the one before the txn (its own is not readable by revision), not compacted. */
  private checkRangeRevision(rev: number): void {
    if (rev <= 0) return;
    if (rev > this.current) throw new KvError('FUTURE_REV');
    if (rev < this.compacted) throw new KvError('COMPACTED');
  }

  /** The revision reads inside a write transaction see: including its own earlier writes. */
  private readRev(st: TxnState): number {
    return st.sub > 0 ? st.rev : this.current;
  }

  /**
   * Runs the branches `path` chose. Each response carries the revision its op saw, as in etcd: a
   * read before the txn's first write reports the old revision; a nested txn's own header stays
   * empty (0); the outermost one gets the store's revision afterwards.
   */
  private execTxn(req: TxnRequest, path: TxnPath, st: TxnState): TxnResponse {
    let nested = 0;
    const responses = (path.succeeded ? req.success : req.failure).map((op): ResponseOp => {
      if ('txn' in op) return { txn: this.execTxn(op.txn, path.nested[nested++]!, st) };
      // Unbounded here: a txn's response is sized, if at all, after it applied, as in etcd.
      if ('range' in op) return { range: this.rangeAt(op.range, this.readRev(st), Number.POSITIVE_INFINITY) };
      if ('put' in op) return { put: this.execPut(op.put, st) };
      return { deleteRange: this.execDelete(op.deleteRange, st) };
    });
    return { revision: 0, succeeded: path.succeeded, responses };
  }

  private nextRevision(st: TxnState): Revision {
    return { main: st.rev, sub: st.sub++ };
  }

  private execPut(req: PutRequest, st: TxnState): PutResponse {
    if (req.key.length === 0) throw new KvError('EMPTY_KEY');
    const k = keyString(req.key);
    let ki = this.index.get(k);
    const prevVis = ki?.get(this.readRev(st)) ?? null;
    const prev = ki !== undefined && prevVis !== null ? this.kvAt(prevVis) : undefined;
    if ((req.ignoreValue === true || req.ignoreLease === true) && prev === undefined)
      throw new KvError('KEY_NOT_FOUND');
    const value = req.ignoreValue === true ? prev!.value : req.value;
    const lease = req.ignoreLease === true ? prev!.lease : (req.lease ?? 0);
    if (lease !== 0 && (this.leases === null || !this.leases.has(lease)))
      throw new KvError('LEASE_NOT_FOUND');
    const rev = this.nextRevision(st);
    if (ki === undefined) {
      ki = new KeyIndex(Uint8Array.from(req.key));
      this.index.set(k, ki);
    }
    ki.put(rev);
    st.touched.add(k);
    const createRevision = prev === undefined ? rev.main : prev.createRevision;
    const version = prev === undefined ? 1 : prev.version + 1;
    const rec: StoredKv = {
      key: ki.key,
      value,
      createRevision,
      modRevision: rev.main,
      version,
      lease,
      tombstone: false,
      sub: rev.sub,
    };
    this.revisions.append(rec);
    this.usage += recordBytes(rec);
    this.pending.push({ op: 'put', record: rec });
    this.moveLease(ki.key, prev?.lease ?? 0, lease, st);
    const kv = this.toKeyValue(rec, version);
    st.events.push(prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: prev });
    return req.prevKv === true && prev !== undefined
      ? { revision: st.rev, prevKv: prev }
      : { revision: st.rev };
  }

  private moveLease(key: Bytes, from: number, to: number, st: TxnState): void {
    if (from === to || this.leases === null) return;
    const leases = this.leases;
    if (from !== 0 && leases.has(from)) {
      leases.detach(from, key);
      st.leaseUndo.push(() => leases.attach(from, key));
    }
    if (to !== 0) {
      leases.attach(to, key);
      st.leaseUndo.push(() => leases.detach(to, key));
    }
  }

  private execDelete(req: DeleteRangeRequest, st: TxnState): DeleteRangeResponse {
    if (req.key.length === 0) throw new KvError('EMPTY_KEY');
    const iv = keyInterval(req.key, req.rangeEnd);
    const victims: [KeyIndex, KeyValue][] = [];
    for (const [ki, v] of this.visible(iv, this.readRev(st))) victims.push([ki, this.kvAt(v)]);
    for (const [ki, prev] of victims) {
      const rev = this.nextRevision(st);
      ki.tombstone(rev);
      st.touched.add(keyString(ki.key));
      const rec: StoredKv = {
        key: ki.key,
        value: EMPTY,
        createRevision: 0,
        modRevision: rev.main,
        version: 0,
        lease: 0,
        tombstone: true,
        sub: rev.sub,
      };
      this.revisions.append(rec);
      this.usage += recordBytes(rec);
      this.pending.push({ op: 'put', record: rec });
      this.moveLease(ki.key, prev.lease, 0, st);
      st.events.push({
        type: 'delete',
        kv: { key: ki.key, createRevision: 0, modRevision: rev.main, version: 0, value: EMPTY, lease: 0 },
        prevKv: prev,
      });
    }
    return {
      // Deleting nothing before the txn's first write reports the old revision.
      revision: this.readRev(st),
      deleted: victims.length,
      prevKvs: req.prevKv === true ? victims.map(([, kv]) => kv) : [],
    };
  }

  /** Undoes every change of a failed transaction: all of them carry main revision st.rev. */
  private rollback(st: TxnState): void {
    if (st.sub === 0 && st.leaseUndo.length === 0) return;
    for (const rec of this.revisions.between(st.rev, st.rev)) this.usage -= recordBytes(rec);
    this.revisions.dropMain(st.rev);
    for (const k of st.touched) {
      const ki = this.index.get(k)!;
      stripRevision(ki, st.rev);
      if (ki.isEmpty()) this.index.delete(k);
    }
    for (const undo of st.leaseUndo.reverse()) undo();
    this.pending = this.pending.filter((m) =>
      m.op === 'put' ? m.record.modRevision !== st.rev : m.rev.main !== st.rev,
    );
  }

  /** Whether the compare holds for every key of its range: streamed, and the first miss decides. */
  private evalCompare(c: Compare, rev: number): boolean {
    const iv = keyInterval(c.key, c.rangeEnd);
    let found = false;
    for (const [, v] of this.visible(iv, rev)) {
      found = true;
      if (!compareKv(c, this.kvAt(v, c.target === 'value'))) return false;
    }
    if (!found) {
      // A missing key compares as zero values; a value compare on it never holds (etcd).
      if (c.target === 'value') return false;
      return compareKv(c, {
        key: c.key,
        createRevision: 0,
        modRevision: 0,
        version: 0,
        value: EMPTY,
        lease: 0,
      });
    }
    return true;
  }

  // ---- compaction ----

  /**
   * Compacts at `rev`: reads at revisions < rev fail with COMPACTED from now on. The old versions
   * themselves are removed in steps of `compactionBatchKeys` keys, the first one here and the
   * rest by `compactStep`, which the server proposes through raft as entries of their own: apply
   * never stalls on a large keyspace, and every member removes the same versions at the same log
   * index, so usage (the quota), snapshots and hashes stay identical across members.
   */
  compact(rev: number): void {
    if (rev <= this.compacted) throw new KvError('COMPACTED');
    if (rev > this.current) throw new KvError('FUTURE_REV');
    this.compacted = rev;
    // A cleanup in progress for an older target restarts: keys already visited get the new target.
    this.compacting = { target: rev, after: null };
    this.compactStep();
  }

  /** One bounded step of the cleanup after a compaction; returns true when nothing is left. */
  compactStep(): boolean {
    const c = this.compacting;
    if (c === null) return true;
    const emptied: string[] = [];
    let visited = 0;
    let last: string | null = c.after;
    let exhausted = true;
    for (const [k, ki] of this.index.entries(c.after ?? undefined)) {
      if (k === c.after) continue;
      if (visited === this.compactionBatchKeys) {
        exhausted = false;
        break;
      }
      for (const dropped of ki.compact(c.target)) {
        const rec = this.revisions.get(dropped);
        if (rec !== undefined) this.usage -= recordBytes(rec);
        this.revisions.remove(dropped);
        this.pending.push({ op: 'delete', rev: dropped });
      }
      if (ki.isEmpty()) emptied.push(k);
      last = k;
      visited += 1;
    }
    for (const k of emptied) this.index.delete(k);
    this.revisions.sweep();
    this.compacting = exhausted ? null : { target: c.target, after: last };
    return exhausted;
  }

  /**
   * Moves the current revision forward by `by` without storing any change: the skipped revisions
   * read as the state before them, and the next write takes the revision after. A restore that
   * starts a new cluster uses it so revisions keep growing past every one a client of the old
   * cluster may have seen (etcd's `snapshot restore --bump-revision`). Not a replicated operation:
   * no watcher hears of it and no backend mutation records it; the caller writes the whole state.
   */
  bumpRevision(by: number): void {
    if (!Number.isSafeInteger(by) || by < 0 || !Number.isSafeInteger(this.current + by))
      throw new RangeError(`revision bump ${by} is not a non-negative integer keeping the revision exact`);
    this.current += by;
  }

  // ---- watch source ----

  eventsBetween(
    fromRevision: number,
    toRevision: number,
    key: Bytes,
    rangeEnd: Bytes | undefined,
    maxEvents: number,
    withPrevKv: boolean,
  ): Event[] {
    const iv = keyInterval(key, rangeEnd);
    const out: Event[] = [];
    let lastMain = -1;
    for (const rec of this.revisions.between(Math.max(fromRevision, this.compacted), toRevision)) {
      if (out.length >= maxEvents && rec.modRevision !== lastMain) break;
      const k = keyString(rec.key);
      if (!inInterval(k, iv)) continue;
      lastMain = rec.modRevision;
      const prev = withPrevKv ? this.kvBefore(k, rec.modRevision) : undefined;
      const kv: KeyValue = rec.tombstone
        ? {
            key: rec.key,
            createRevision: 0,
            modRevision: rec.modRevision,
            version: 0,
            value: EMPTY,
            lease: 0,
          }
        : this.toKeyValue(rec, rec.version);
      out.push({
        type: rec.tombstone ? 'delete' : 'put',
        kv,
        ...(prev === undefined ? {} : { prevKv: prev }),
      });
    }
    return out;
  }

  private kvBefore(k: string, rev: number): KeyValue | undefined {
    const ki = this.index.get(k);
    const v = ki?.get(rev - 1);
    return ki !== undefined && v != null ? this.kvAt(v) : undefined;
  }

  // ---- hashes ----

  /**
   * Hash of every version with revision in (compactRevision, rev] and the compact revision:
   * equal on members that applied the same log, whatever their compaction timing within it.
   * Revisions are checked as etcd's HashKV does: 0 is the current one, the compact revision
   * itself is already COMPACTED (nothing above it is left to hash), and a negative one hashes
   * nothing.
   */
  hashKV(rev = 0): { hash: number; revision: number; compactRevision: number } {
    if (rev > 0 && rev <= this.compacted) throw new KvError('COMPACTED');
    if (rev > this.current) throw new KvError('FUTURE_REV');
    const upTo = rev === 0 ? this.current : rev;
    const h = createHash('sha256');
    for (const rec of this.revisions.between(this.compacted + 1, upTo)) {
      h.update(rec.key);
      h.update(
        `|${rec.modRevision}.${rec.sub}|${rec.createRevision}|${rec.version}|${rec.lease}|${rec.tombstone ? 1 : 0}|`,
      );
      h.update(rec.value);
    }
    return { hash: h.digest().readUInt32BE(0), revision: this.current, compactRevision: this.compacted };
  }

  // ---- restore ----

  /** Rebuilds the store from records in revision order (a backend load or a snapshot). */
  restore(
    records: Iterable<StoredKv>,
    currentRevision: number,
    compactRevision: number,
    compacting: CompactionCursor | null = null,
  ): void {
    // Revisions count from INITIAL_REVISION (the empty store) and the first change is the one after
    // it: state saved with any other numbering is refused whole rather than read one off.
    if (!Number.isSafeInteger(currentRevision) || currentRevision < INITIAL_REVISION)
      throw new KvError('CORRUPT', `current revision ${currentRevision} below ${INITIAL_REVISION}`);
    if (
      !Number.isSafeInteger(compactRevision) ||
      compactRevision < NEVER_COMPACTED ||
      compactRevision > currentRevision
    )
      throw new KvError(
        'CORRUPT',
        `compact revision ${compactRevision} outside [${NEVER_COMPACTED}, ${currentRevision}]`,
      );
    if (
      compacting !== null &&
      (compacting.target !== compactRevision ||
        (compacting.after !== null && typeof compacting.after !== 'string'))
    )
      throw new KvError(
        'CORRUPT',
        `compaction cursor ${JSON.stringify(compacting)} does not match ${compactRevision}`,
      );
    // Built aside and swapped in whole, so a refused restore leaves the store as it was.
    const index = new BTree<string, KeyIndex>();
    const revisions = new RevisionLog();
    let usage = 0;
    for (const rec of records) {
      if (rec.modRevision <= INITIAL_REVISION || rec.modRevision > currentRevision)
        throw new KvError(
          'CORRUPT',
          `a change at revision ${rec.modRevision} outside (${INITIAL_REVISION}, ${currentRevision}]`,
        );
      const k = keyString(rec.key);
      let ki = index.get(k);
      if (ki === undefined) {
        ki = new KeyIndex(rec.key);
        index.set(k, ki);
      }
      const rev = { main: rec.modRevision, sub: rec.sub };
      if (rec.tombstone) ki.tombstone(rev);
      else {
        if (ki.isDeleted() && rec.version > 1) {
          // Compaction dropped the generation's earlier versions: restore its counters.
          const g = ki.generations[ki.generations.length - 1]!;
          g.ver = rec.version - 1;
          g.created = { main: rec.createRevision, sub: 0 };
          ki.put(rev);
          g.created = { main: rec.createRevision, sub: 0 };
        } else ki.put(rev);
      }
      revisions.append(rec);
      usage += recordBytes(rec);
    }
    this.index = index;
    this.revisions = revisions;
    this.usage = usage;
    this.current = currentRevision;
    this.compacted = compactRevision;
    this.compacting = compacting;
    this.pending = [];
  }

  /** Every stored version in revision order (for snapshots and backend writes). */
  *records(): Generator<StoredKv> {
    yield* this.revisions.between(0, Number.MAX_SAFE_INTEGER);
  }

  /** Number of live keys at the current revision. */
  keyCount(): number {
    let n = 0;
    for (const [, ki] of this.index.entries()) if (!ki.isDeleted()) n++;
    return n;
  }
}

/** Per-version overhead counted by the quota, roughly what etcd's backend spends on metadata. */
const RECORD_OVERHEAD_BYTES = 64;

function recordBytes(rec: StoredKv): number {
  return rec.key.length + rec.value.length + RECORD_OVERHEAD_BYTES;
}

function stripRevision(ki: KeyIndex, main: number): void {
  // Changes of one transaction are the newest of the key: drop them from the end.
  for (;;) {
    const gens = ki.generations;
    const last = gens[gens.length - 1]!;
    if (last.revs.length === 0 && gens.length > 1) {
      const prev = gens[gens.length - 2]!;
      const tomb = prev.revs[prev.revs.length - 1]!;
      if (tomb.main !== main) break;
      gens.pop();
      prev.revs.pop();
      prev.ver--;
      continue;
    }
    const r = last.revs[last.revs.length - 1];
    if (r === undefined || r.main !== main) break;
    last.revs.pop();
    last.ver--;
  }
  const gens = ki.generations;
  const last = gens[gens.length - 1]!;
  const prevGen = gens.length > 1 ? gens[gens.length - 2]! : undefined;
  ki.modified = last.revs[last.revs.length - 1] ??
    prevGen?.revs[prevGen.revs.length - 1] ?? { main: 0, sub: 0 };
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  let cmp: number;
  switch (c.target) {
    case 'value':
      cmp = bytesCompare(kv.value, c.value ?? EMPTY);
      break;
    case 'version':
      cmp = kv.version - (c.version ?? 0);
      break;
    case 'create':
      cmp = kv.createRevision - (c.createRevision ?? 0);
      break;
    case 'mod':
      cmp = kv.modRevision - (c.modRevision ?? 0);
      break;
    case 'lease':
      cmp = kv.lease - (c.lease ?? 0);
      break;
  }
  switch (c.result) {
    case 'equal':
      return cmp === 0;
    case 'notEqual':
      return cmp !== 0;
    case 'greater':
      return cmp > 0;
    case 'less':
      return cmp < 0;
  }
}

/**
 * The min/max create and mod revision filters, judged on the key index (no version is read); null
 * when there are none. 0 means no bound, as in etcd.
 */
function revisionFilter(req: RangeRequest): ((v: VisibleRevision) => boolean) | null {
  const minMod = req.minModRevision ?? 0;
  const maxMod = req.maxModRevision ?? 0;
  const minCreate = req.minCreateRevision ?? 0;
  const maxCreate = req.maxCreateRevision ?? 0;
  if (minMod === 0 && maxMod === 0 && minCreate === 0 && maxCreate === 0) return null;
  return (v) =>
    (maxMod === 0 || v.modified.main <= maxMod) &&
    (minMod === 0 || v.modified.main >= minMod) &&
    (maxCreate === 0 || v.created.main <= maxCreate) &&
    (minCreate === 0 || v.created.main >= minCreate);
}

function sortComparator(target: RangeRequest['sortTarget']): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case 'version':
      return (a, b) => a.version - b.version;
    case 'create':
      return (a, b) => a.createRevision - b.createRevision;
    case 'mod':
      return (a, b) => a.modRevision - b.modRevision;
    case 'value':
      return (a, b) => bytesCompare(a.value, b.value);
    default:
      return (a, b) => bytesCompare(a.key, b.key);
  }
}
