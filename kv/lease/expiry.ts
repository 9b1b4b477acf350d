// The leader's lease clock (not replicated): deadlines on this member's injected clock, which expired
// leases to propose revoking, and which remaining TTLs to checkpoint through raft. Invariants: it acts
// only while leading; it never hands out a revoke when the quorum is not active; it never hands out
// more revokes than its token bucket holds; and its deadlines never precede what the log allows.

import assert from 'node:assert/strict';
import { BTree } from '../btree.js';
import { KvError } from '../errors.js';
import type { LeaseCheckpoint, LeaseInfo, LeaseTable } from './lessor.js';

/** etcd's leaseRevokeRate. */
export const DEFAULT_MAX_REVOKES_PER_SECOND = 1000;
/** How often each lease's remaining TTL is checkpointed: the most a leader change can add to a lease. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5000;
/** etcd's maxLeaseCheckpointBatchSize: checkpoints handed out per call (one raft entry). */
export const DEFAULT_MAX_CHECKPOINTS_PER_BATCH = 1000;
/** A renewal is checkpointed at once when it moves the deadline further than this past the replicated one. */
export const DEFAULT_RENEW_SLACK_MS = 1000;
/**
 * Added to deadlines after a takeover (never checkpointed): covers renewals inside the slack, which
 * the log has not seen, plus a second an urgent checkpoint may wait for its batch.
 */
export const DEFAULT_TAKEOVER_GRACE_MS = 2000;
/** etcd's expiredLeaseRetryInterval: a handed-out revoke not applied by then is handed out again. */
export const DEFAULT_REVOKE_RETRY_MS = 3000;

const MS_PER_SECOND = 1000;

export interface LeaseExpiryOptions {
  /** The injected clock in milliseconds (monotonic); used where a method is not given `now`. */
  readonly now: () => number;
  /** Token bucket rate and burst: revokes handed out per second, and at most this many per call. */
  readonly maxRevokesPerSecond?: number;
  readonly checkpointIntervalMs?: number;
  readonly maxCheckpointsPerBatch?: number;
  readonly renewSlackMs?: number;
  /** Must be >= renewSlackMs, or a renewal inside the slack could be lost by a leader change. */
  readonly takeoverGraceMs?: number;
  readonly revokeRetryMs?: number;
}

export interface ExpiredBatch {
  /** Lease ids to revoke through raft, earliest expiry first, then by id. */
  readonly revoke: number[];
  /** Expired leases still waiting to be handed out (the metric). */
  readonly backlog: number;
}

/** A position in a time-ordered queue: [time in ms, lease id]; ties break on the id. */
type Slot = readonly [atMs: number, id: number];
const bySlot = (a: Slot, b: Slot): number => a[0] - b[0] || a[1] - b[1];

type LeaseState = 'live' | 'expired' | 'revoking';

interface Tracked {
  readonly id: number;
  readonly ttlMs: number;
  /** When the remaining TTL runs out on this member's clock. */
  deadlineMs: number;
  /** The deadline a successor will honour at least: the last checkpoint proposed (or grant or takeover). */
  replicatedDeadlineMs: number;
  state: LeaseState;
  /**
   * Key in `live` or `backlogQueue`: [revoke time, id]. The revoke time is deadline +
   * takeoverGraceMs for a lease carried over a takeover, until its first renewal here.
   */
  expirySlot: Slot;
  /** Key in `inflight`: [time to hand it out again, id]. */
  retrySlot: Slot | null;
  periodicSlot: Slot | null;
  urgentSlot: Slot | null;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

export class LeaseExpiry {
  private readonly clock: () => number;
  readonly maxRevokesPerSecond: number;
  readonly checkpointIntervalMs: number;
  readonly maxCheckpointsPerBatch: number;
  readonly renewSlackMs: number;
  readonly takeoverGraceMs: number;
  readonly revokeRetryMs: number;

  private table: LeaseTable | null = null;
  private readonly tracked = new Map<number, Tracked>();
  /** Not yet expired, by expiry time. */
  private readonly live: BTree<Slot, Tracked> = new BTree<Slot, Tracked>(undefined, bySlot);
  /** Expired and not handed out, by expiry time: its size is the backlog. */
  private readonly backlogQueue: BTree<Slot, Tracked> = new BTree<Slot, Tracked>(undefined, bySlot);
  /** Handed out for revoking and not applied yet, by retry time. */
  private readonly inflight: BTree<Slot, Tracked> = new BTree<Slot, Tracked>(undefined, bySlot);
  private readonly periodic: BTree<Slot, Tracked> = new BTree<Slot, Tracked>(undefined, bySlot);
  /** Renewals whose checkpoint must not wait for the periodic one; served first. */
  private readonly urgent: BTree<Slot, Tracked> = new BTree<Slot, Tracked>(undefined, bySlot);
  private tokens = 0;
  private refilledAtMs = 0;
  private lastNowMs = Number.NEGATIVE_INFINITY;

  constructor(options: LeaseExpiryOptions) {
    this.clock = options.now;
    this.maxRevokesPerSecond = positiveInteger(
      'maxRevokesPerSecond',
      options.maxRevokesPerSecond ?? DEFAULT_MAX_REVOKES_PER_SECOND,
    );
    this.checkpointIntervalMs = positiveInteger(
      'checkpointIntervalMs',
      options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    );
    this.maxCheckpointsPerBatch = positiveInteger(
      'maxCheckpointsPerBatch',
      options.maxCheckpointsPerBatch ?? DEFAULT_MAX_CHECKPOINTS_PER_BATCH,
    );
    this.renewSlackMs = positiveInteger('renewSlackMs', options.renewSlackMs ?? DEFAULT_RENEW_SLACK_MS);
    this.takeoverGraceMs = positiveInteger(
      'takeoverGraceMs',
      options.takeoverGraceMs ?? DEFAULT_TAKEOVER_GRACE_MS,
    );
    if (this.takeoverGraceMs < this.renewSlackMs)
      throw new RangeError('takeoverGraceMs must be >= renewSlackMs');
    this.revokeRetryMs = positiveInteger('revokeRetryMs', options.revokeRetryMs ?? DEFAULT_REVOKE_RETRY_MS);
  }

  get leading(): boolean {
    return this.table !== null;
  }

  /** Expired leases not yet handed out for revoking, as of the last `expired` call. */
  get backlog(): number {
    return this.backlogQueue.size;
  }

  /** Leases handed out for revoking whose revoke has not been applied yet. */
  get inflightRevokes(): number {
    return this.inflight.size;
  }

  /** Leases this leader is timing. */
  get size(): number {
    return this.tracked.size;
  }

  /**
   * Starts timing every lease of `table` from its last checkpoint: deadline = now + remainingMs,
   * revoked no earlier than deadline + takeoverGraceMs. Call it once this member leads AND has
   * applied the first entry of its own term, so every checkpoint the old leader committed is in
   * `table`; before that, a checkpoint still being applied would be missed.
   */
  becomeLeader(table: LeaseTable, now: number): void {
    assert(this.table === null, 'becomeLeader while already leading');
    this.observe(now);
    this.table = table;
    // A new leader starts with a full bucket: the burst is bounded by the bucket size anyway.
    this.tokens = this.maxRevokesPerSecond;
    this.refilledAtMs = now;
    for (const lease of table.entries()) this.track(lease, now, this.takeoverGraceMs);
  }

  /** Forgets every deadline: a follower times nothing, and the next leader starts from the log. */
  stepDown(): void {
    this.table = null;
    this.tracked.clear();
    for (const tree of [this.live, this.backlogQueue, this.inflight, this.periodic, this.urgent])
      tree.clear();
    this.tokens = 0;
  }

  /** The apply layer calls this after applying a grant (a no-op on followers). */
  granted(id: number, now: number = this.clock()): void {
    if (this.table === null) return;
    this.observe(now);
    const lease = this.table.get(id);
    assert(lease !== undefined, `granted lease ${id} is in the table`);
    assert(!this.tracked.has(id), `granted lease ${id} is new`);
    this.track(lease, now, 0);
  }

  /** The apply layer calls this after applying a revoke, whoever proposed it (a no-op on followers). */
  revoked(id: number): void {
    const t = this.tracked.get(id);
    if (t === undefined) return;
    this.live.delete(t.expirySlot);
    this.backlogQueue.delete(t.expirySlot);
    if (t.retrySlot !== null) this.inflight.delete(t.retrySlot);
    if (t.periodicSlot !== null) this.periodic.delete(t.periodicSlot);
    if (t.urgentSlot !== null) this.urgent.delete(t.urgentSlot);
    this.tracked.delete(id);
  }

  /**
   * A keep-alive: the lease lives ttl more seconds from now; returns the TTL for the response.
   * An expired lease cannot be revived (its revoke is coming): LEASE_NOT_FOUND, as etcd answers
   * once its revoke lands. When the renewal moves the deadline more than renewSlackMs past what the
   * log guarantees, the lease's checkpoint becomes urgent so a leader change cannot lose it.
   */
  keepAlive(id: number, now: number = this.clock()): number {
    if (this.table === null) throw new KvError('LEASE_NOT_PRIMARY');
    this.observe(now);
    const t = this.tracked.get(id);
    if (t === undefined || t.state !== 'live' || now >= t.expirySlot[0]) throw new KvError('LEASE_NOT_FOUND');
    this.live.delete(t.expirySlot);
    t.deadlineMs = now + t.ttlMs;
    t.expirySlot = [t.deadlineMs, id];
    this.live.set(t.expirySlot, t);
    if (t.deadlineMs - t.replicatedDeadlineMs > this.renewSlackMs && t.urgentSlot === null) {
      t.urgentSlot = [now, id];
      this.urgent.set(t.urgentSlot, t);
    }
    return t.ttlMs / MS_PER_SECOND;
  }

  /**
   * Whether the lease's last renewal still waits for its checkpoint to be handed out by
   * `dueCheckpoints`. A server that holds a keep-alive reply until this is false and the handed-out
   * entry has applied never acknowledges a renewal that a leader change can lose.
   */
  renewalPending(id: number): boolean {
    return (this.tracked.get(id)?.urgentSlot ?? null) !== null;
  }

  /**
   * Milliseconds until this leader would revoke the lease (capped at its TTL), 0 once expired;
   * undefined when not leading or not tracked. For TimeToLive answered by the leader.
   */
  remainingMs(id: number, now: number = this.clock()): number | undefined {
    const t = this.tracked.get(id);
    if (t === undefined) return undefined;
    this.observe(now);
    if (t.state !== 'live') return 0;
    return Math.min(t.ttlMs, Math.max(0, Math.ceil(t.expirySlot[0] - now)));
  }

  /**
   * The checkpoints to propose now, as one LeaseCheckpoint entry: urgent ones (after renewals)
   * first, then periodic ones that are due, each queue earliest first, at most
   * maxCheckpointsPerBatch. remainingMs excludes any takeover grace, so repeated leader changes
   * cannot stack graces into the log. Each lease is then due again checkpointIntervalMs later, or
   * never once it reached 0 (the revoke follows).
   */
  dueCheckpoints(now: number): LeaseCheckpoint[] {
    if (this.table === null) return [];
    this.observe(now);
    const out: LeaseCheckpoint[] = [];
    for (const queue of [this.urgent, this.periodic]) {
      while (out.length < this.maxCheckpointsPerBatch) {
        const first = queue.minKey();
        if (first === undefined || first[0] > now) break;
        out.push(this.checkpointNow(queue.get(first)!, now));
      }
    }
    return out;
  }

  /**
   * Expired leases to revoke now. Nothing at all when `canRevoke` is false: the caller passes
   * whether CheckQuorum finds the quorum active, so a leader cut off from its quorum (about to be
   * replaced, its clock view stale) never proposes a revoke. Otherwise up to the token bucket's
   * content (refilled at maxRevokesPerSecond, holding at most one second's worth), earliest expiry
   * first, then id. Handed-out ids are offered again after revokeRetryMs if their revoke was lost.
   */
  expired(now: number, options: { readonly canRevoke: boolean }): ExpiredBatch {
    if (this.table === null) return { revoke: [], backlog: 0 };
    this.observe(now);
    this.collectExpired(now);
    this.refill(now);
    if (!options.canRevoke) return { revoke: [], backlog: this.backlogQueue.size };
    const revoke: number[] = [];
    const allowed = Math.min(Math.floor(this.tokens), this.maxRevokesPerSecond);
    while (revoke.length < allowed) {
      const first = this.backlogQueue.minKey();
      if (first === undefined) break;
      const t = this.backlogQueue.get(first)!;
      this.backlogQueue.delete(first);
      t.state = 'revoking';
      t.retrySlot = [now + this.revokeRetryMs, t.id];
      this.inflight.set(t.retrySlot, t);
      revoke.push(t.id);
    }
    this.tokens -= revoke.length;
    return { revoke, backlog: this.backlogQueue.size };
  }

  private track(lease: LeaseInfo, now: number, graceMs: number): void {
    const deadlineMs = now + lease.remainingMs;
    const t: Tracked = {
      id: lease.id,
      ttlMs: lease.ttlSeconds * MS_PER_SECOND,
      deadlineMs,
      replicatedDeadlineMs: deadlineMs,
      state: 'live',
      expirySlot: [deadlineMs + graceMs, lease.id],
      retrySlot: null,
      periodicSlot: null,
      urgentSlot: null,
    };
    this.tracked.set(lease.id, t);
    this.live.set(t.expirySlot, t);
    this.schedulePeriodic(t, now);
  }

  private schedulePeriodic(t: Tracked, now: number): void {
    if (t.deadlineMs <= now) return;
    t.periodicSlot = [now + this.checkpointIntervalMs, t.id];
    this.periodic.set(t.periodicSlot, t);
  }

  private checkpointNow(t: Tracked, now: number): LeaseCheckpoint {
    if (t.urgentSlot !== null) this.urgent.delete(t.urgentSlot);
    if (t.periodicSlot !== null) this.periodic.delete(t.periodicSlot);
    t.urgentSlot = null;
    t.periodicSlot = null;
    // Rounded up: a checkpoint may keep a lease a millisecond longer, never end it earlier.
    const remainingMs = Math.max(0, Math.ceil(t.deadlineMs - now));
    assert(remainingMs <= t.ttlMs, `lease ${t.id} remaining within its TTL`);
    t.replicatedDeadlineMs = now + remainingMs;
    this.schedulePeriodic(t, now);
    return { id: t.id, remainingMs };
  }

  /** Moves leases past deadline + grace into the backlog, and lost revokes back into it. */
  private collectExpired(now: number): void {
    for (let first = this.live.minKey(); first !== undefined && first[0] <= now; first = this.live.minKey()) {
      const t = this.live.get(first)!;
      this.live.delete(first);
      t.state = 'expired';
      this.backlogQueue.set(first, t);
    }
    for (
      let first = this.inflight.minKey();
      first !== undefined && first[0] <= now;
      first = this.inflight.minKey()
    ) {
      const t = this.inflight.get(first)!;
      this.inflight.delete(first);
      t.retrySlot = null;
      t.state = 'expired';
      this.backlogQueue.set(t.expirySlot, t);
    }
  }

  private refill(now: number): void {
    const earned = ((now - this.refilledAtMs) * this.maxRevokesPerSecond) / MS_PER_SECOND;
    this.tokens = Math.min(this.maxRevokesPerSecond, this.tokens + earned);
    this.refilledAtMs = now;
  }

  /** Deadlines are differences on one clock: it must be finite and never run backwards. */
  private observe(now: number): void {
    assert(Number.isFinite(now), 'clock reading is finite');
    assert(now >= this.lastNowMs, `clock went backwards: ${now} < ${this.lastNowMs}`);
    this.lastNowMs = now;
  }
}
