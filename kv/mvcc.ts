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

export interface StoreObserver {
  /** Events of one committed write revision (prevKv always filled where a previous version exists). */
  onCommit(revision: number, events: readonly Event[]): void;
}

const EMPTY = new Uint8Array(0);
/** Bound on how many keys one compaction step visits, so compaction never stalls apply. */
export const COMPACTION_BATCH_KEYS = 10_000;

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
  private readonly index: BTree<string, KeyIndex> = new BTree<string, KeyIndex>();
  private revisions = new RevisionLog();
  private current = 0;
  private compacted = 0;
  /** Bytes of every stored version (keys, values and a fixed overhead): the quota's measure. */
  private usage = 0;
  /** Durable changes not yet handed to the backend. */
  private pending: StoreMutation[] = [];
  leases: LeaseHooks | null = null;
  observer: StoreObserver | null = null;

  get currentRevision(): number {
    return this.current;
  }

  get compactRevision(): number {
    return this.compacted;
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

  private checkRevision(rev: number): number {
    if (rev === 0) return this.current;
    if (rev > this.current) throw new KvError('FUTURE_REV');
    if (rev < this.compacted) throw new KvError('COMPACTED');
    return rev;
  }

  private toKeyValue(rec: StoredKv, version: number): KeyValue {
    return {
      key: rec.key,
      createRevision: rec.createRevision,
      modRevision: rec.modRevision,
      version,
      value: rec.value,
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

  private kvAt(v: VisibleRevision): KeyValue {
    const rec = this.revisions.get(v.modified);
    if (rec === undefined)
      throw new KvError('CORRUPT', `missing revision ${v.modified.main}.${v.modified.sub}`);
    return this.toKeyValue(rec, v.version);
  }

  range(req: RangeRequest): RangeResponse {
    return this.rangeAt(req, this.current);
  }

  /**
   * A range as etcd runs it at `curRev` (the store's revision, or a write txn's own once it wrote):
   * revision 0 or below reads at curRev, and the header carries curRev whatever revision was read.
   */
  private rangeAt(req: RangeRequest, curRev: number): RangeResponse {
    if (req.key.length === 0) throw new KvError('EMPTY_KEY');
    const asked = req.revision ?? 0;
    if (asked > curRev) throw new KvError('FUTURE_REV');
    const rev = asked <= 0 ? curRev : asked;
    if (rev < this.compacted) throw new KvError('COMPACTED');
    const iv = keyInterval(req.key, req.rangeEnd);
    // A negative limit is no limit, as in etcd.
    const limit = Math.max(req.limit ?? 0, 0);
    const filtered =
      (req.minModRevision ?? 0) !== 0 ||
      (req.maxModRevision ?? 0) !== 0 ||
      (req.minCreateRevision ?? 0) !== 0 ||
      (req.maxCreateRevision ?? 0) !== 0;
    let sortOrder = req.sortOrder ?? 'none';
    const sortTarget = req.sortTarget ?? 'key';
    if (sortTarget !== 'key' && sortOrder === 'none') sortOrder = 'ascend';
    // Like etcd: sorting or filtering needs every kv; otherwise read limit + 1 to learn `more`.
    const needAll = filtered || (sortOrder !== 'none' && !(sortOrder === 'ascend' && sortTarget === 'key'));
    const fetchLimit = needAll || limit === 0 ? Number.POSITIVE_INFINITY : limit + 1;
    let count = 0;
    let kvs: KeyValue[] = [];
    for (const [, v] of this.visible(iv, rev)) {
      count++;
      if (req.countOnly === true || kvs.length >= fetchLimit) continue;
      kvs.push(this.kvAt(v));
    }
    if (req.countOnly === true) return { revision: curRev, kvs: [], more: false, count };
    if (req.maxModRevision) kvs = kvs.filter((kv) => kv.modRevision <= req.maxModRevision!);
    if (req.minModRevision) kvs = kvs.filter((kv) => kv.modRevision >= req.minModRevision!);
    if (req.maxCreateRevision) kvs = kvs.filter((kv) => kv.createRevision <= req.maxCreateRevision!);
    if (req.minCreateRevision) kvs = kvs.filter((kv) => kv.createRevision >= req.minCreateRevision!);
    if (sortOrder !== 'none') {
      const cmp = sortComparator(sortTarget);
      kvs.sort(sortOrder === 'ascend' ? cmp : (a, b) => cmp(b, a));
    }
    let more = false;
    if (limit > 0 && kvs.length > limit) {
      kvs = kvs.slice(0, limit);
      more = true;
    }
    if (req.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
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
      if ('range' in op) return { range: this.rangeAt(op.range, this.readRev(st)) };
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

  private evalCompare(c: Compare, rev: number): boolean {
    const iv = keyInterval(c.key, c.rangeEnd);
    const kvs: KeyValue[] = [];
    for (const [, v] of this.visible(iv, rev)) kvs.push(this.kvAt(v));
    if (kvs.length === 0) {
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
    return kvs.every((kv) => compareKv(c, kv));
  }

  // ---- compaction ----

  /** Removes history below `rev`; reads at revisions < rev fail with COMPACTED afterwards. */
  compact(rev: number): void {
    if (rev <= this.compacted) throw new KvError('COMPACTED');
    if (rev > this.current) throw new KvError('FUTURE_REV');
    this.compacted = rev;
    const emptied: string[] = [];
    for (const [k, ki] of this.index.entries()) {
      for (const dropped of ki.compact(rev)) {
        const rec = this.revisions.get(dropped);
        if (rec !== undefined) this.usage -= recordBytes(rec);
        this.revisions.remove(dropped);
        this.pending.push({ op: 'delete', rev: dropped });
      }
      if (ki.isEmpty()) emptied.push(k);
    }
    for (const k of emptied) this.index.delete(k);
    this.revisions.sweep();
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
   */
  hashKV(rev = 0): { hash: number; revision: number; compactRevision: number } {
    const upTo = rev === 0 ? this.current : this.checkRevision(rev);
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
  restore(records: Iterable<StoredKv>, currentRevision: number, compactRevision: number): void {
    this.index.clear();
    this.revisions = new RevisionLog();
    this.usage = 0;
    for (const rec of records) {
      const k = keyString(rec.key);
      let ki = this.index.get(k);
      if (ki === undefined) {
        ki = new KeyIndex(rec.key);
        this.index.set(k, ki);
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
      this.revisions.append(rec);
      this.usage += recordBytes(rec);
    }
    this.current = currentRevision;
    this.compacted = compactRevision;
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
