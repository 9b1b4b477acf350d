// The replicated state machine: applies raft entries (encoded Envelopes) to the MVCC store and
// the lease table, in log order, deterministically. Errors are results, never exceptions, so every
// member records the same outcome; nothing here reads a clock. Also enforces the backend quota
// with a NOSPACE alarm that, unlike etcd's, measures live data and clears itself.

import { Packr } from 'msgpackr';
import type { BackendCommit, BackendState } from './backend.js';
import { isKvError, KvError, type KvErrorCode } from './errors.js';
import { ClusterMembers, type MembershipChange } from './members.js';
import type { CompactionCursor, LeaseHooks, StoreObserver } from './mvcc.js';
import { MvccStore } from './mvcc.js';
import { type AlarmType, decodeEnvelope, type Envelope, type KvRequest } from './request.js';
import { type StoredKv, type StoredKvTuple, storedKvFromTuple, storedKvToTuple } from './revision-log.js';
import { validatePut, validateTxn } from './txn-validate.js';
import type { Bytes, DeleteRangeResponse, PutResponse, TxnResponse } from './types.js';

/** What the state machine needs of the lease table (kv/lease implements it). */
export interface LeaseState extends LeaseHooks {
  /** How many leases there are. */
  readonly size: number;
  /** Returns the TTL granted (raised to the minimum). */
  grant(id: number, ttlSeconds: number): { readonly ttlSeconds: number };
  /** Removes the lease and returns the keys attached to it. */
  revoke(id: number): Bytes[];
  checkpoint(id: number, remainingMs: number): void;
  /** Every lease back to its full TTL (a restored cluster times them afresh). */
  renewAll(): void;
  snapshot(): Uint8Array;
}

/** Builds a lease table: empty (null) or from a snapshot's encoding. */
export type LeaseFactory = (snapshot: Uint8Array | null) => LeaseState;

export type ApplyResponse =
  | { readonly put: PutResponse }
  | { readonly deleteRange: DeleteRangeResponse }
  | { readonly txn: TxnResponse }
  | { readonly compaction: { readonly revision: number } }
  | { readonly compactStep: { readonly done: boolean } }
  | { readonly leaseGrant: { readonly id: number; readonly ttlSeconds: number; readonly revision: number } }
  | { readonly leaseRevoke: { readonly id: number; readonly revision: number } }
  | { readonly leaseExpire: { readonly revoked: readonly number[]; readonly revision: number } }
  | { readonly leaseCheckpoint: { readonly revision: number } }
  | { readonly alarm: { readonly alarms: readonly Alarm[] } }
  | { readonly member: { readonly revision: number } };

export type ApplyResult =
  | { readonly ok: true; readonly requestId: string; readonly response: ApplyResponse }
  | { readonly ok: false; readonly requestId: string; readonly code: KvErrorCode; readonly message: string };

export interface Alarm {
  readonly memberId: number;
  readonly alarm: AlarmType;
}

export interface StateMachineOptions {
  /** --quota-backend-bytes: live data above it raises NOSPACE (0 = etcd's default 2 GiB). */
  readonly quotaBytes?: number;
  /** NOSPACE clears itself once usage falls below this fraction of the quota. */
  readonly quotaLowWatermark?: number;
  readonly maxTxnOps?: number;
}

export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
const DEFAULT_LOW_WATERMARK = 0.8;
/** Alarms raised by the state machine itself carry member id 0 (the cluster). */
const CLUSTER_MEMBER = 0;

const packr = new Packr({ useRecords: false, moreTypes: false });

export class KvStateMachine {
  readonly store = new MvccStore();
  leases: LeaseState;
  private readonly newLeases: LeaseFactory;
  appliedIndex = 0;
  private alarms: Alarm[] = [];
  members = new ClusterMembers();
  private membersDirty = false;
  private leasesDirty = false;
  private alarmsDirty = false;
  private readonly quotaBytes: number;
  private readonly lowWatermark: number;
  private readonly maxTxnOps: number;

  constructor(newLeases: LeaseFactory, o: StateMachineOptions = {}) {
    this.newLeases = newLeases;
    this.leases = newLeases(null);
    // Hooks go through `this.leases` so a restore that replaces the table needs no rewiring.
    this.store.leases = {
      has: (id) => this.leases.has(id),
      attach: (id, key) => {
        this.leasesDirty = true;
        this.leases.attach(id, key);
      },
      detach: (id, key) => {
        this.leasesDirty = true;
        this.leases.detach(id, key);
      },
    };
    this.quotaBytes = o.quotaBytes === undefined || o.quotaBytes === 0 ? DEFAULT_QUOTA_BYTES : o.quotaBytes;
    this.lowWatermark = o.quotaLowWatermark ?? DEFAULT_LOW_WATERMARK;
    this.maxTxnOps = o.maxTxnOps ?? 128;
  }

  set observer(o: StoreObserver | null) {
    this.store.observer = o;
  }

  activeAlarms(): readonly Alarm[] {
    return this.alarms;
  }

  /** Applies the entry at `index`. Entries at or below the applied index are skipped (replay). */
  apply(index: number, data: Uint8Array): ApplyResult | null {
    if (index <= this.appliedIndex) return null;
    this.appliedIndex = index;
    if (data.length === 0) return null;
    let env: Envelope;
    try {
      env = decodeEnvelope(data);
    } catch (err) {
      // An entry nobody can decode is applied as a no-op on every member alike.
      return {
        ok: false,
        requestId: '',
        code: 'CORRUPT',
        message: err instanceof Error ? err.message : String(err),
      };
    }
    try {
      const response = this.execute(env.request);
      this.checkQuota();
      return { ok: true, requestId: env.requestId, response };
    } catch (err) {
      if (!isKvError(err)) throw err;
      return { ok: false, requestId: env.requestId, code: err.code, message: err.message };
    }
  }

  /**
   * Applies a conf change entry's effect on membership (the caller applies it to raft). Returns
   * false for an entry at or below the applied index (replay): membership already reflects it.
   */
  applyMembership(index: number, change: MembershipChange | null): boolean {
    if (index <= this.appliedIndex) return false;
    this.appliedIndex = index;
    if (change !== null) {
      this.members.apply(change);
      this.membersDirty = true;
    }
    return true;
  }

  /** Sets a new cluster's founding membership (before anything is applied). */
  bootstrapMembers(clusterId: number, members: Parameters<ClusterMembers['bootstrap']>[1]): void {
    this.members.bootstrap(clusterId, members);
    this.membersDirty = true;
  }

  private execute(r: KvRequest): ApplyResponse {
    if ('put' in r) {
      validatePut(r.put);
      this.refuseWhenFull();
      return { put: this.store.put(r.put) };
    }
    if ('deleteRange' in r) return { deleteRange: this.store.deleteRange(r.deleteRange) };
    if ('txn' in r) {
      validateTxn(r.txn, this.maxTxnOps);
      if (hasPut(r.txn)) this.refuseWhenFull();
      return { txn: this.store.txn(r.txn) };
    }
    if ('compaction' in r) {
      this.store.compact(r.compaction.revision);
      return { compaction: { revision: this.store.currentRevision } };
    }
    if ('compactStep' in r) {
      return { compactStep: { done: this.store.compactStep() } };
    }
    if ('leaseGrant' in r) {
      this.refuseWhenFull();
      if (!Number.isSafeInteger(r.leaseGrant.id) || r.leaseGrant.id <= 0)
        throw new KvError('BAD_REQUEST', 'lease id must be positive');
      this.leases.grant(r.leaseGrant.id, r.leaseGrant.ttlSeconds);
      this.leasesDirty = true;
      return {
        leaseGrant: {
          id: r.leaseGrant.id,
          ttlSeconds: r.leaseGrant.ttlSeconds,
          revision: this.store.currentRevision,
        },
      };
    }
    if ('leaseRevoke' in r) {
      this.revokeLease(r.leaseRevoke.id);
      return { leaseRevoke: { id: r.leaseRevoke.id, revision: this.store.currentRevision } };
    }
    if ('leaseExpire' in r) {
      const revoked = r.leaseExpire.ids.filter((id) => this.leases.has(id));
      for (const id of revoked) this.revokeLease(id);
      return { leaseExpire: { revoked, revision: this.store.currentRevision } };
    }
    if ('leaseCheckpoint' in r) {
      for (const c of r.leaseCheckpoint.checkpoints) {
        // A checkpoint for a lease revoked meanwhile is harmless: skip it.
        if (this.leases.has(c.id)) this.leases.checkpoint(c.id, c.remainingMs);
      }
      this.leasesDirty = true;
      return { leaseCheckpoint: { revision: this.store.currentRevision } };
    }
    if ('memberPublish' in r) {
      const p = r.memberPublish;
      this.members.publish(p.id, p.name, p.clientURLs);
      this.membersDirty = true;
      return { member: { revision: this.store.currentRevision } };
    }
    if ('memberUpdate' in r) {
      this.members.updatePeerURLs(r.memberUpdate.id, r.memberUpdate.peerURLs);
      this.membersDirty = true;
      return { member: { revision: this.store.currentRevision } };
    }
    const a = r.alarm;
    if (a.action === 'activate') this.raise({ memberId: a.memberId, alarm: a.alarm });
    else this.clearAlarms((x) => !(x.alarm === a.alarm && (a.memberId === 0 || x.memberId === a.memberId)));
    return { alarm: { alarms: this.alarms } };
  }

  /** Revokes a lease and deletes every key attached to it in one revision. */
  private revokeLease(id: number): void {
    const keys = this.leases.revoke(id);
    this.leasesDirty = true;
    if (keys.length > 0) {
      this.store.txn({ compare: [], success: keys.map((key) => ({ deleteRange: { key } })), failure: [] });
    }
  }

  private raise(a: Alarm): void {
    if (this.alarms.some((x) => x.alarm === a.alarm && x.memberId === a.memberId)) return;
    this.alarms.push(a);
    this.alarmsDirty = true;
  }

  private clearAlarms(keep: (a: Alarm) => boolean): void {
    const kept = this.alarms.filter(keep);
    if (kept.length !== this.alarms.length) this.alarmsDirty = true;
    this.alarms = kept;
  }

  private refuseWhenFull(): void {
    if (!this.alarms.some((a) => a.alarm === 'NOSPACE')) return;
    const usage = this.store.usageBytes;
    throw new KvError(
      'NO_SPACE',
      `usage ${usage} bytes, quota ${this.quotaBytes} bytes; compact and defragment to free space`,
    );
  }

  /** Raises NOSPACE past the quota; clears the cluster's own alarm below the low watermark. */
  private checkQuota(): void {
    const usage = this.store.usageBytes;
    if (usage > this.quotaBytes) this.raise({ memberId: CLUSTER_MEMBER, alarm: 'NOSPACE' });
    else if (usage < this.quotaBytes * this.lowWatermark) {
      this.clearAlarms((a) => !(a.alarm === 'NOSPACE' && a.memberId === CLUSTER_MEMBER));
    }
  }

  /** Whether the lease table changed since the last call (for the backend commit). */
  takeLeasesDirty(): boolean {
    const d = this.leasesDirty;
    this.leasesDirty = false;
    return d;
  }

  // ---- durable storage ----

  /** Everything applied since the last call, as one atomic backend commit. */
  takeCommit(): BackendCommit {
    const leases = this.takeLeasesDirty() ? { leases: this.leases.snapshot() } : {};
    const alarms = this.alarmsDirty
      ? { alarms: packr.pack(this.alarms.map((a) => [a.memberId, a.alarm])) }
      : {};
    this.alarmsDirty = false;
    const members = this.membersDirty ? { members: this.members.encode() } : {};
    this.membersDirty = false;
    return {
      ...alarms,
      ...members,
      mutations: this.store.drainMutations(),
      applied: this.appliedIndex,
      currentRevision: this.store.currentRevision,
      compactRevision: this.store.compactRevision,
      compaction: this.store.compaction,
      ...leases,
    };
  }

  /** Starts from what the backend holds (a restart): replay the raft log from appliedIndex + 1. */
  load(state: BackendState): void {
    this.store.restore(state.records, state.currentRevision, state.compactRevision, state.compaction);
    this.leases = this.newLeases(state.leases);
    this.alarms =
      state.alarms === null
        ? []
        : (packr.unpack(state.alarms) as [number, AlarmType][]).map(([memberId, alarm]) => ({
            memberId,
            alarm,
          }));
    this.members = state.members === null ? new ClusterMembers() : ClusterMembers.decode(state.members);
    this.appliedIndex = state.applied;
    this.leasesDirty = false;
    this.alarmsDirty = false;
    this.membersDirty = false;
  }

  // ---- snapshots ----

  /** The whole state at the applied index, byte-identical on members with the same history. */
  snapshot(): Uint8Array {
    const records = [...this.store.records()].map(storedKvToTuple);
    return packr.pack({
      v: 1,
      applied: this.appliedIndex,
      current: this.store.currentRevision,
      compacted: this.store.compactRevision,
      compacting: this.store.compaction,
      records,
      leases: this.leases.snapshot(),
      alarms: this.alarms.map((a) => [a.memberId, a.alarm]),
      members: this.members.encode(),
    });
  }

  /**
   * Replaces the whole state with a snapshot's. `zeroPadded` accepts zero bytes after the encoded
   * snapshot (a saved snapshot file is padded to whole blocks); anything else after it is CORRUPT.
   */
  restore(bytes: Uint8Array, opts: { readonly zeroPadded?: boolean } = {}): void {
    const o = decodeSnapshot(bytes, opts.zeroPadded === true);
    if (o.v !== 1) throw new KvError('CORRUPT', `unsupported snapshot version ${String(o.v)}`);
    if (!Array.isArray(o.records) || !(o.leases instanceof Uint8Array) || !Array.isArray(o.alarms))
      throw new KvError('CORRUPT', 'snapshot lacks records, leases or alarms');
    const records: StoredKv[] = o.records.map((tuple) => {
      const rec = storedKvFromTuple(tuple);
      if (rec === null) throw new KvError('CORRUPT', 'bad record in snapshot');
      return rec;
    });
    this.store.restore(records, o.current, o.compacted, o.compacting ?? null);
    this.leases = this.newLeases(new Uint8Array(o.leases));
    this.alarms = o.alarms.map(([memberId, alarm]) => ({ memberId, alarm }));
    this.members =
      o.members === undefined ? new ClusterMembers() : ClusterMembers.decode(new Uint8Array(o.members));
    this.appliedIndex = o.applied;
    this.leasesDirty = false;
    this.alarmsDirty = false;
    this.membersDirty = false;
    this.store.drainMutations();
  }

  /**
   * Makes this state, restored from another cluster's snapshot, the founding state of a new
   * cluster: the keys, values and leases stay; membership is the new cluster's; the old members'
   * alarms go (their member ids mean nothing here, and NOSPACE is raised again by the quota check
   * if still due); every lease restarts at its full TTL; and the revision moves forward by
   * `bumpRevision` so no revision a client saw on the old cluster names different data on the new
   * one, with everything up to the new revision compacted unless `markCompacted` is false (reads
   * and watches at an old revision then fail with COMPACTED instead of silently reusing it).
   * Deterministic: the same snapshot and options give the same bytes on every member. Nothing is
   * applied yet (index 0); the founding write records the result at index 1.
   */
  startNewCluster(o: {
    readonly clusterId: number;
    readonly members: Parameters<ClusterMembers['bootstrap']>[1];
    readonly bumpRevision: number;
    readonly markCompacted: boolean;
  }): void {
    this.store.bumpRevision(o.bumpRevision);
    const revision = this.store.currentRevision;
    if (o.markCompacted && revision > this.store.compactRevision) this.store.compact(revision);
    this.leases.renewAll();
    this.leasesDirty = true;
    this.clearAlarms(() => false);
    this.bootstrapMembers(o.clusterId, o.members);
    this.appliedIndex = 0;
  }

  /** The whole state as the backend stores it (to replace the backend after a snapshot install). */
  backendState(): BackendState {
    return {
      records: [...this.store.records()],
      applied: this.appliedIndex,
      currentRevision: this.store.currentRevision,
      compactRevision: this.store.compactRevision,
      compaction: this.store.compaction,
      leases: this.leases.snapshot(),
      alarms: packr.pack(this.alarms.map((a) => [a.memberId, a.alarm])),
      members: this.members.encode(),
    };
  }

  /** Hash of the whole replicated state: equal on every member at the same applied index. */
  hash(): number {
    const kv = this.store.hashKV().hash;
    let h = kv ^ 0x9e3779b9;
    for (const b of this.leases.snapshot()) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    for (const b of this.members.encode()) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    return h >>> 0;
  }
}

interface EncodedSnapshot {
  v?: unknown;
  applied: number;
  current: number;
  compacted: number;
  compacting?: CompactionCursor | null;
  records: StoredKvTuple[];
  leases: Uint8Array;
  alarms: [number, AlarmType][];
  members?: Uint8Array;
}

/**
 * Decodes the first encoded value and, for zero-padded input, checks that only zero bytes follow.
 * Stripping trailing zeros instead would be wrong: an encoding can itself end with a zero byte.
 */
function decodeSnapshot(bytes: Uint8Array, zeroPadded: boolean): EncodedSnapshot {
  let value: unknown;
  if (!zeroPadded) value = packr.unpack(bytes);
  else {
    let end = -1;
    packr.unpackMultiple(bytes, (v: unknown, _start?: number, stop?: number) => {
      value = v;
      end = stop ?? -1;
      return false;
    });
    if (end < 0) throw new KvError('CORRUPT', 'snapshot: nothing decoded');
    for (let i = end; i < bytes.length; i++)
      if (bytes[i] !== 0)
        throw new KvError('CORRUPT', `snapshot: non-zero byte ${i - end} bytes after its end`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KvError('CORRUPT', 'snapshot: not a netcd state machine snapshot');
  return value as EncodedSnapshot;
}

function hasPut(txn: { success: readonly unknown[]; failure: readonly unknown[] }): boolean {
  const visit = (ops: readonly unknown[]): boolean =>
    ops.some((op) => {
      const o = op as { put?: unknown; txn?: { success: readonly unknown[]; failure: readonly unknown[] } };
      return o.put !== undefined || (o.txn !== undefined && hasPut(o.txn));
    });
  return visit(txn.success) || visit(txn.failure);
}
