// One netcd member: drives the raft core with the durable log (WAL), applies committed entries to
// the kv state machine, persists them to the level backend, and serves the API of server/api.ts.
// The loop per Ready: install a snapshot, persist entries + hard state (one fsync), send messages,
// apply committed entries, answer reads, advance. Writes on followers reach the leader through
// raft's proposal forwarding; linearizable reads use ReadIndex; leases expire only by the leader.

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { BackendState, LevelBackend } from '../kv/backend.js';
import { isKvError, KvError } from '../kv/errors.js';
import { LeaseExpiry } from '../kv/lease/expiry.js';
import { LeaseIdGenerator } from '../kv/lease/ids.js';
import { LeaseTable } from '../kv/lease/lessor.js';
import {
  decodeMemberContext,
  encodeMemberContext,
  type MemberRecord,
  type MembershipChange,
} from '../kv/members.js';
import { encodeEnvelope, type KvRequest } from '../kv/request.js';
import { type Alarm, type ApplyResponse, type ApplyResult, KvStateMachine } from '../kv/state-machine.js';
import type { RangeRequest, RangeResponse } from '../kv/types.js';
import type { RaftLog } from '../kv/wal/index.js';
import { connectWatchHub, storeWatchSource, WatchHub } from '../kv/watch/index.js';
import { decodeConfChange } from '../raft/confchange-codec.js';
import { isRaftError } from '../raft/errors.js';
import { RawNode } from '../raft/rawnode.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Snapshot } from '../raft/types.js';
import {
  type CallOptions,
  type Header,
  isServerError,
  type Member,
  type MemberInfo,
  type MemberStatus,
  ServerError,
} from './api.js';
import type { CompactionTarget } from './compactor.js';
import type { CorruptionTarget, HashAt } from './corruption-check.js';
import { randomMemberId } from './identity.js';
import { IndexWaiters, KeyedWaiters } from './waiters.js';

export const NETCD_VERSION = '0.1.0';
/** The etcd API version netcd speaks (reported in Status and /version). */
export const ETCD_API_VERSION = '3.4.0';

/** Log entries kept behind a snapshot so a slightly lagging follower catches up without one. */
const DEFAULT_CATCH_UP_ENTRIES = 5000;
/** A read index request not answered in this long is sent again (the leader may have changed). */
const READ_INDEX_RETRY_MS = 500;
/** Proposals queued in one event-loop turn are flushed into raft at this size. */
const MAX_PROPOSAL_BATCH_BYTES = 512 * 1024;
/** Unsynced watchers are served at most this often (etcd: 100 ms). */
const WATCH_SYNC_INTERVAL_MS = 100;
/** Progress notifications for watchers that asked for them (etcd: 10 minutes). */
const WATCH_PROGRESS_INTERVAL_MS = 10 * 60 * 1000;
/** A learner may be promoted once its log is at least this fraction of the leader's. */
const PROMOTE_READY_FRACTION = 0.9;

/** What the member needs of the peer transport (server/transport implements it). */
export interface PeerNetwork {
  setPeer(id: number, urls: readonly string[]): void;
  removePeer(id: number): void;
  send(messages: readonly Message[]): void;
  request(to: number, body: unknown, timeoutMs: number): Promise<unknown>;
}

/** Hooks for metrics; every field optional so tests can pass nothing. */
export interface MemberObserver {
  onLeaderChange?(leader: number): void;
  onTerm?(term: number): void;
  onProposal?(outcome: 'committed' | 'failed'): void;
  onApplyDuration?(seconds: number, entries: number): void;
  onFsyncDuration?(seconds: number): void;
  onBackendCommitDuration?(seconds: number): void;
}

export interface MemberOptions {
  readonly memberId: number;
  readonly clusterId: number;
  readonly name: string;
  readonly clientURLs: readonly string[];
  readonly log: RaftLog;
  readonly backend: LevelBackend;
  readonly network: PeerNetwork;
  readonly logger: Logger;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotCount: number;
  /** Entries kept behind a snapshot (default 5000). */
  readonly snapshotCatchUpEntries?: number;
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly preVote?: boolean;
  /** Refuse membership changes that would leave the cluster without a working quorum. */
  readonly strictReconfigCheck?: boolean;
  readonly observer?: MemberObserver;
  /** Monotonic milliseconds (lease timing). */
  readonly now?: () => number;
  /** Called when this member learns it was removed from the cluster; the daemon exits. */
  readonly onRemoved?: () => void;
}

type Outcome =
  | { readonly ok: true; readonly response: ApplyResponse }
  | { readonly ok: false; readonly error: Error };

/** Requests one member sends another over the peer transport. */
export type PeerRequest =
  | { readonly op: 'keepAlive'; readonly id: number }
  | { readonly op: 'timeToLive'; readonly id: number; readonly keys: boolean }
  | { readonly op: 'leases' }
  | { readonly op: 'promote'; readonly id: number }
  | { readonly op: 'hashKV'; readonly revision: number };

function leaseTable(snapshot: Uint8Array | null): LeaseTable {
  return snapshot === null ? new LeaseTable() : LeaseTable.restore(snapshot);
}

export class NetcdMember implements Member {
  readonly id: number;
  readonly clusterId: number;
  readonly name: string;
  readonly maxRequestBytes: number;
  readonly machine: KvStateMachine;
  readonly watchHub: WatchHub;
  private readonly o: MemberOptions;
  private readonly logger: Logger;
  private readonly raw: RawNode;
  private readonly now: () => number;
  private readonly electionTicks: number;
  private readonly requestTimeoutMs: number;
  private confState: ConfState;
  /** Index of the last snapshot recorded in the raft log. */
  private snapshotIndex: number;

  private readonly proposals = new KeyedWaiters<Outcome>();
  private readonly appliedWaiters = new IndexWaiters();
  private requestSeq = 0;
  private readonly leaseIds: LeaseIdGenerator;
  private readonly leaseExpiry: LeaseExpiry;
  /** Keep-alive replies held until a checkpoint carrying the renewal applies: request id → leases. */
  private readonly checkpointsInFlight = new Map<
    string,
    { readonly ids: Set<number>; readonly proposedAt: number }
  >();
  private heldRenewals: { readonly id: number; readonly at: number; readonly release: () => void }[] = [];

  private readBatch: { ctx: string; resolve: (index: number) => void; reject: (e: unknown) => void } | null =
    null;
  private readonly readsInFlight = new Map<
    string,
    { resolve: (index: number) => void; reject: (e: unknown) => void; sentAt: number }
  >();
  private readSeq = 0;

  private ticker: NodeJS.Timeout | null = null;
  private readyScheduled = false;
  private readyRunning: Promise<void> | null = null;
  private backendChain: Promise<void> = Promise.resolve();
  private compacting = false;
  /** Last raft log index known durable on this member's disk. */
  private persistedIndex: number;
  private compaction: Promise<void> = Promise.resolve();
  private closed = false;
  private stopped = false;
  private published = false;
  private leader = 0;
  private fatalError: Error | null = null;

  /** `state` is what the backend holds; raft replays its log from the recorded snapshot on. */
  constructor(o: MemberOptions, state: BackendState) {
    this.o = o;
    this.id = o.memberId;
    this.clusterId = o.clusterId;
    this.name = o.name;
    this.maxRequestBytes = o.maxRequestBytes;
    this.logger = o.logger;
    this.now = o.now ?? (() => performance.now());
    this.electionTicks = Math.max(2, Math.round(o.electionTimeoutMs / o.heartbeatIntervalMs));
    this.requestTimeoutMs = 5000 + 2 * o.electionTimeoutMs;
    this.machine = new KvStateMachine(leaseTable, {
      quotaBytes: o.quotaBackendBytes,
      maxTxnOps: o.maxTxnOps,
    });
    this.watchHub = new WatchHub(storeWatchSource(this.machine.store), {
      onSinkError: (watchId, err) => this.logger.warn({ watchId, err }, 'watch sink failed'),
    });
    this.machine.load(state);
    connectWatchHub(this.machine.store, this.watchHub);
    this.leaseIds = new LeaseIdGenerator(o.memberId, Date.now());
    this.leaseExpiry = new LeaseExpiry({ now: this.now });
    const snap = o.log.snapshot();
    this.confState = snap.metadata.confState;
    this.snapshotIndex = snap.metadata.index;
    this.persistedIndex = o.log.lastIndex();
    this.raw = new RawNode({
      id: o.memberId,
      storage: o.log,
      electionTicks: this.electionTicks,
      heartbeatTicks: 1,
      randomInt: (n) => Math.floor(Math.random() * n),
      // Entries after the snapshot are handed out again: the state machine skips what it holds,
      // and conf changes among them rebuild raft's configuration.
      applied: snap.metadata.index,
      checkQuorum: true,
      preVote: o.preVote ?? true,
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 512,
      maxUncommittedEntriesBytes: 1 << 30,
    });
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Starts ticking. A lone voter campaigns at once instead of waiting out an election timeout. */
  start(): void {
    for (const m of this.machine.members.list())
      if (m.id !== this.id) this.o.network.setPeer(m.id, m.peerURLs);
    this.ticker = setInterval(() => this.tick(), this.o.heartbeatIntervalMs);
    const voters = this.confState.voters;
    if (voters.length === 1 && voters[0] === this.id) this.raw.campaign();
    this.scheduleReady();
  }

  /** Graceful stop: hand leadership to the most caught-up voter, then flush and close. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.raw.raft.state === 'leader' && this.fatalError === null) await this.handOverLeadership();
    this.stopped = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    const stopping = new ServerError('STOPPING', 'server stopped');
    this.proposals.rejectAll(stopping);
    this.appliedWaiters.rejectAll(stopping);
    for (const r of this.readsInFlight.values()) r.reject(stopping);
    this.readsInFlight.clear();
    this.readBatch?.reject(stopping);
    this.readBatch = null;
    for (const h of this.heldRenewals) h.release();
    this.heldRenewals = [];
    await this.readyRunning;
    await this.compaction;
    try {
      await this.persistApplied(true);
    } finally {
      this.closed = true;
      await this.o.log.close();
      await this.o.backend.close();
    }
  }

  private async handOverLeadership(): Promise<void> {
    const target = this.bestTransferee();
    if (target === 0) return;
    this.logger.info({ transferee: target.toString(16) }, 'handing over leadership before stopping');
    try {
      await this.transferTo(target, this.o.electionTimeoutMs * 2);
    } catch (err) {
      this.logger.warn({ err }, 'leadership hand-over failed; stopping anyway');
    }
  }

  private bestTransferee(): number {
    let best = 0;
    let bestMatch = -1;
    for (const id of this.confState.voters) {
      if (id === this.id) continue;
      const pr = this.raw.raft.trk.progress.get(id);
      if (pr?.recentActive === true && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get leaderId(): number {
    return this.leader;
  }

  get appliedIndex(): number {
    return this.machine.appliedIndex;
  }

  // ---- inputs from the network -------------------------------------------------------------------

  receive(m: Message): void {
    if (this.stopped) return;
    try {
      this.raw.step(m);
    } catch (err) {
      // A message from a removed peer, or a proposal forwarded here when this member knows no
      // leader either: dropped, as raft's forwarding allows (the proposer retries or times out).
      if (isRaftError(err, 'STEP_PEER_NOT_FOUND') || isRaftError(err, 'PROPOSAL_DROPPED')) return;
      throw err;
    }
    this.scheduleReady();
  }

  reportUnreachable(id: number): void {
    if (this.stopped) return;
    this.raw.reportUnreachable(id);
  }

  /**
   * A peer refused our connection as a stranger. Once a majority of the other members do, this
   * member was removed while it could not hear about it (the leader stops sending to a member it
   * removed): it stops like a member that applied its own removal.
   */
  reportRejected(peer: number, code: string): void {
    if (this.stopped || code !== 'UNKNOWN_PEER') return;
    this.rejectedBy.add(peer);
    const others = this.machine.members.list().filter((m) => m.id !== this.id).length;
    if (this.rejectedBy.size * 2 > others && !this.removedReported) {
      this.removedReported = true;
      this.logger.warn(
        { rejectedBy: this.rejectedBy.size },
        'peers no longer count this member: it was removed',
      );
      this.o.onRemoved?.();
    }
  }

  private readonly rejectedBy = new Set<number>();
  private removedReported = false;

  reportSnapshot(id: number, ok: boolean): void {
    if (this.stopped) return;
    this.raw.reportSnapshot(id, ok);
    this.scheduleReady();
  }

  /** Serves another member's request (only the leader answers lease questions). */
  async handlePeerRequest(body: unknown): Promise<unknown> {
    const r = body as PeerRequest;
    switch (r.op) {
      case 'keepAlive':
        return { ttl: await this.localKeepAlive(r.id) };
      case 'timeToLive':
        return this.localTimeToLive(r.id, r.keys);
      case 'leases':
        this.requireLeader();
        return { ids: this.machine.leases instanceof LeaseTable ? this.machine.leases.list() : [] };
      case 'promote':
        await this.localPromote(r.id);
        return { ok: true };
      case 'hashKV':
        return this.hashKVWhenAt(r.revision);
      default:
        throw new ServerError('INVALID_ARGUMENT', 'unknown peer request');
    }
  }

  // ---- the loop ----------------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    this.raw.tick();
    this.leaseDuties();
    this.compactionDuties();
    this.retryReads();
    this.serveWatchers();
    this.scheduleReady();
  }

  /** Watchers behind the store catch up from history in bounded steps; progress is sent on schedule. */
  private serveWatchers(): void {
    const now = this.now();
    if (this.watchHub.stats().unsynced > 0 && now - this.lastWatchSyncMs >= WATCH_SYNC_INTERVAL_MS) {
      this.lastWatchSyncMs = now;
      this.watchHub.syncUnsynced();
    }
    if (now - this.lastProgressMs >= WATCH_PROGRESS_INTERVAL_MS) {
      this.lastProgressMs = now;
      this.watchHub.progressAll();
    }
  }

  private lastWatchSyncMs = 0;
  private lastProgressMs = 0;

  private scheduleReady(): void {
    if (this.readyScheduled || this.stopped) return;
    this.readyScheduled = true;
    setImmediate(() => {
      this.readyScheduled = false;
      if (this.readyRunning !== null) return;
      this.readyRunning = this.drainReady().finally(() => {
        this.readyRunning = null;
        if (this.raw.hasReady()) this.scheduleReady();
      });
    });
  }

  private async drainReady(): Promise<void> {
    try {
      while (!this.stopped && this.raw.hasReady()) {
        const rd = this.raw.ready();
        await this.handleReady(rd);
        this.raw.advance(rd);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.fatalError = e;
    this.logger.fatal({ err: e }, 'member failed; stopping');
    void this.stop();
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== null) this.onSoftState(rd.softState.lead, rd.softState.role);
    if (rd.hardState !== null && rd.hardState.term !== 0) this.o.observer?.onTerm?.(rd.hardState.term);
    if (rd.snapshot !== null) await this.installSnapshot(rd.snapshot);
    // Committed entries this member already holds on disk are applied while this Ready's own
    // write is in flight; the rest (a lone voter commits what it has not persisted yet) after it.
    const committed = rd.committedEntries;
    let early = 0;
    while (early < committed.length && committed[early]!.index <= this.persistedIndex) early++;
    if (early > 0) this.applyEntries(early === committed.length ? committed : committed.slice(0, early));
    if (rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null) {
      const t0 = performance.now();
      await this.o.log.save(rd.hardState, rd.entries, rd.snapshot, rd.mustSync);
      if (rd.mustSync) this.o.observer?.onFsyncDuration?.((performance.now() - t0) / 1000);
      const last = rd.entries[rd.entries.length - 1];
      if (last !== undefined) this.persistedIndex = last.index;
      else if (rd.snapshot !== null)
        this.persistedIndex = Math.max(this.persistedIndex, rd.snapshot.metadata.index);
    }
    if (rd.messages.length > 0) this.o.network.send(rd.messages.map((m) => this.withCurrentSnapshot(m)));
    if (early < committed.length) this.applyEntries(early === 0 ? committed : committed.slice(early));
    for (const rs of rd.readStates) this.onReadState(Buffer.from(rs.requestCtx).toString('latin1'), rs.index);
  }

  private onSoftState(lead: number, role: string): void {
    if (lead !== this.leader) {
      this.leader = lead;
      this.logger.info({ leader: lead.toString(16), role }, 'leader changed');
      this.o.observer?.onLeaderChange?.(lead);
      // Reads waiting on the old leader would wait for a retry; send them again now.
      for (const r of this.readsInFlight.values()) r.sentAt = Number.NEGATIVE_INFINITY;
    }
    if (role !== 'leader' && this.leaseExpiry.leading) {
      this.leaseExpiry.stepDown();
      for (const h of this.heldRenewals) h.release();
      this.heldRenewals = [];
      this.checkpointsInFlight.clear();
    }
    if (lead !== 0 && !this.published) this.publish();
  }

  /** A follower behind the leader's log receives the leader's whole state. */
  private async installSnapshot(snap: Snapshot): Promise<void> {
    this.logger.info({ index: snap.metadata.index, term: snap.metadata.term }, 'installing snapshot');
    this.machine.restore(snap.data);
    await this.backendChain;
    await this.o.backend.replace(this.machine.backendState());
    this.watchHub.restore();
    this.confState = snap.metadata.confState;
    this.snapshotIndex = snap.metadata.index;
    this.syncPeers();
    this.appliedWaiters.notify(this.machine.appliedIndex);
  }

  /**
   * The raft log keeps snapshot metadata only; a snapshot sent to a follower carries the state as
   * applied now (at least as new as the recorded one), with the metadata of that index.
   */
  private withCurrentSnapshot(m: Message): Message {
    if (m.type !== 'snap' || m.snapshot === null) return m;
    const index = this.machine.appliedIndex;
    const term = index === this.snapshotIndex ? this.o.log.snapshot().metadata.term : this.o.log.term(index);
    return {
      ...m,
      snapshot: { metadata: { index, term, confState: this.confState }, data: this.machine.snapshot() },
    };
  }

  private applyEntries(entries: readonly Entry[]): void {
    const t0 = performance.now();
    for (const e of entries) {
      if (e.type === 'confChange') this.applyConfChangeEntry(e);
      else this.applyNormalEntry(e);
    }
    this.o.observer?.onApplyDuration?.((performance.now() - t0) / 1000, entries.length);
    this.persistApplied(false);
    this.appliedWaiters.notify(this.machine.appliedIndex);
    this.maybeTakeOverLeases();
    this.maybeSnapshot();
  }

  private applyNormalEntry(e: Entry): void {
    let result: ApplyResult | null;
    try {
      result = this.machine.apply(e.index, e.data);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (result === null) return;
    if (result.ok) {
      const res = result.response;
      if ('leaseGrant' in res) this.leaseExpiry.granted(res.leaseGrant.id);
      else if ('leaseRevoke' in res) this.leaseExpiry.revoked(res.leaseRevoke.id);
      else if ('leaseExpire' in res) for (const id of res.leaseExpire.revoked) this.leaseExpiry.revoked(id);
      else if ('leaseCheckpoint' in res) this.releaseHeld(result.requestId);
      else if ('alarm' in res) this.logger.warn({ alarms: res.alarm.alarms }, 'alarms changed');
    }
    if (!this.proposals.has(result.requestId)) return;
    this.o.observer?.onProposal?.(result.ok ? 'committed' : 'failed');
    this.proposals.resolve(
      result.requestId,
      result.ok ? { ok: true, response: result.response } : { ok: false, error: new KvError(result.code) },
    );
  }

  private applyConfChangeEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    this.confState = this.raw.applyConfChange(cc);
    const change = membershipChange(cc, this.machine.members.get.bind(this.machine.members));
    const fresh = this.machine.applyMembership(e.index, change);
    if (fresh && change !== null) this.logger.info({ change: describeChange(change) }, 'membership changed');
    this.syncPeers();
    const requestId = change?.kind === 'add' ? change.context.requestId : decodeContextId(cc.context);
    if (requestId !== '' && this.proposals.has(requestId))
      this.proposals.resolve(requestId, {
        ok: true,
        response: { member: { revision: this.machine.store.currentRevision } },
      });
    if (change?.kind === 'remove' && change.id === this.id && !this.removedReported) {
      this.removedReported = true;
      this.logger.warn('this member was removed from the cluster');
      this.o.onRemoved?.();
    }
  }

  /** Tells the transport about every member but this one. */
  private syncPeers(): void {
    const known = new Set<number>();
    for (const m of this.machine.members.list()) {
      known.add(m.id);
      if (m.id !== this.id) this.o.network.setPeer(m.id, m.peerURLs);
    }
    for (const id of this.peersSet) if (!known.has(id)) this.o.network.removePeer(id);
    this.peersSet = known;
  }

  private peersSet = new Set<number>();

  /** Queues the applied changes to the backend; commits are written in apply order. */
  private persistApplied(sync: boolean): Promise<void> {
    const commit = this.machine.takeCommit();
    const backend = this.o.backend;
    const t0 = performance.now();
    this.backendChain = this.backendChain.then(async () => {
      if (this.closed) return;
      await backend.commit(commit, { sync });
      this.o.observer?.onBackendCommitDuration?.((performance.now() - t0) / 1000);
    });
    this.backendChain.catch((err: unknown) => this.fail(err));
    return this.backendChain;
  }

  /** Every snapshot-count applied entries: record a snapshot and drop old log entries. */
  private maybeSnapshot(): void {
    const applied = this.machine.appliedIndex;
    if (this.compacting || applied - this.snapshotIndex < this.o.snapshotCount) return;
    this.compacting = true;
    const confState = this.confState;
    this.compaction = (async () => {
      try {
        // The backend must hold everything up to `applied` on disk before the log forgets it.
        await this.persistApplied(true);
        await this.o.log.createSnapshot(applied, confState);
        this.snapshotIndex = applied;
        const compactTo = applied - (this.o.snapshotCatchUpEntries ?? DEFAULT_CATCH_UP_ENTRIES);
        if (compactTo >= this.o.log.firstIndex()) await this.o.log.compact(compactTo);
        this.logger.info({ index: applied, compactTo }, 'snapshot taken and log compacted');
      } catch (err) {
        if (!this.stopped) this.logger.error({ err }, 'snapshot failed');
      } finally {
        this.compacting = false;
      }
    })();
  }

  // ---- proposals ---------------------------------------------------------------------------------

  private nextRequestId(): string {
    return `${this.id.toString(36)}.${(this.requestSeq++).toString(36)}`;
  }

  private checkUsable(): void {
    if (this.stopped) throw new ServerError('STOPPING', 'server stopped');
  }

  /** Raft accepts a proposal only with a known leader; wait up to an election for one. */
  private async proposeEntry(propose: () => void, signal?: AbortSignal): Promise<void> {
    const deadline = this.now() + this.o.electionTimeoutMs * 2;
    for (;;) {
      this.checkUsable();
      try {
        propose();
        this.scheduleReady();
        return;
      } catch (err) {
        if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
        if (this.now() >= deadline) throw new ServerError('NO_LEADER', 'no leader');
      }
      if (signal?.aborted === true) throw new ServerError('CANCELED', 'context canceled');
      await sleep(Math.min(50, this.o.heartbeatIntervalMs));
    }
  }

  async propose(req: KvRequest, opts: CallOptions = {}): Promise<ApplyResponse> {
    this.checkUsable();
    const requestId = this.nextRequestId();
    const data = encodeEnvelope({ requestId, request: req });
    if (data.length > this.maxRequestBytes) throw new KvError('REQUEST_TOO_LARGE');
    const waiting = this.proposals.wait(requestId, this.requestTimeoutMs, opts.signal);
    this.queueProposal(requestId, data, opts.signal);
    const outcome = await waiting;
    if (!outcome.ok) throw outcome.error;
    return outcome.response;
  }

  /**
   * Proposals arriving in one turn of the event loop enter raft as one message, so the leader
   * sends one append per follower for all of them instead of one each.
   */
  private queueProposal(requestId: string, data: Uint8Array, signal: AbortSignal | undefined): void {
    this.proposalQueue.push({ requestId, data, signal });
    this.proposalQueueBytes += data.length;
    if (this.proposalQueueBytes >= MAX_PROPOSAL_BATCH_BYTES) this.flushProposals();
    else if (this.proposalQueue.length === 1) setImmediate(() => this.flushProposals());
  }

  private flushProposals(): void {
    const batch = this.proposalQueue;
    if (batch.length === 0) return;
    this.proposalQueue = [];
    this.proposalQueueBytes = 0;
    try {
      this.checkUsable();
      this.raw.proposeBatch(batch.map((p) => p.data));
      this.scheduleReady();
      return;
    } catch (err) {
      if (!isRaftError(err, 'PROPOSAL_DROPPED') && !isServerError(err)) throw err;
    }
    // No leader to take them now: each waits for one on its own, up to its deadline.
    for (const p of batch) {
      this.proposeEntry(() => this.raw.propose(p.data), p.signal).catch((err: unknown) =>
        this.proposals.reject(p.requestId, err),
      );
    }
  }

  private proposalQueue: { requestId: string; data: Uint8Array; signal: AbortSignal | undefined }[] = [];
  private proposalQueueBytes = 0;

  // ---- reads -------------------------------------------------------------------------------------

  async range(req: RangeRequest, opts: CallOptions = {}): Promise<RangeResponse> {
    this.checkUsable();
    if (req.serializable !== true) await this.linearizableBarrier(opts);
    return this.machine.store.range(req);
  }

  /** Resolves once this member has applied everything committed before the call (ReadIndex). */
  async linearizableBarrier(opts: CallOptions = {}): Promise<void> {
    this.checkUsable();
    if (this.leader === 0) await this.waitForLeader(opts.signal);
    const index = await this.readIndex();
    await this.appliedWaiters.wait(index, this.machine.appliedIndex, this.requestTimeoutMs, opts.signal);
  }

  private async waitForLeader(signal?: AbortSignal): Promise<void> {
    const deadline = this.now() + this.o.electionTimeoutMs * 2;
    while (this.leader === 0) {
      this.checkUsable();
      if (this.now() >= deadline) throw new ServerError('NO_LEADER', 'no leader');
      if (signal?.aborted === true) throw new ServerError('CANCELED', 'context canceled');
      await sleep(Math.min(50, this.o.heartbeatIntervalMs));
    }
  }

  /** Reads arriving together share one ReadIndex round. */
  private readIndex(): Promise<number> {
    if (this.readBatch === null) {
      const ctx = `${this.id.toString(36)}:${(this.readSeq++).toString(36)}`;
      let resolve!: (i: number) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<number>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.readBatch = { ctx, resolve, reject };
      this.readBatchPromise = promise;
      setImmediate(() => this.sendReadBatch());
    }
    return this.readBatchPromise as Promise<number>;
  }

  private readBatchPromise: Promise<number> | null = null;

  private sendReadBatch(): void {
    const batch = this.readBatch;
    if (batch === null) return;
    this.readBatch = null;
    this.readBatchPromise = null;
    const timer = setTimeout(() => {
      if (this.readsInFlight.delete(batch.ctx)) batch.reject(new ServerError('TIMEOUT', 'request timed out'));
    }, this.requestTimeoutMs);
    this.readsInFlight.set(batch.ctx, {
      resolve: (i) => {
        clearTimeout(timer);
        batch.resolve(i);
      },
      reject: (e) => {
        clearTimeout(timer);
        batch.reject(e);
      },
      sentAt: this.now(),
    });
    this.sendReadIndex(batch.ctx);
  }

  /** Without a leader the request stays in flight and `retryReads` sends it once there is one. */
  private sendReadIndex(ctx: string): void {
    try {
      this.raw.readIndex(Buffer.from(ctx, 'latin1'));
      this.scheduleReady();
    } catch (err) {
      if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
      const r = this.readsInFlight.get(ctx);
      if (r !== undefined) r.sentAt = Number.NEGATIVE_INFINITY;
    }
  }

  private onReadState(ctx: string, index: number): void {
    const r = this.readsInFlight.get(ctx);
    if (r === undefined) return;
    this.readsInFlight.delete(ctx);
    r.resolve(index);
  }

  /** Read index requests lost with a leader change are sent again. */
  private retryReads(): void {
    if (this.readsInFlight.size === 0 || this.leader === 0) return;
    const now = this.now();
    for (const [ctx, r] of this.readsInFlight) {
      if (now - r.sentAt < READ_INDEX_RETRY_MS) continue;
      r.sentAt = now;
      this.sendReadIndex(ctx);
    }
  }

  header(): Header {
    return {
      clusterId: this.clusterId,
      memberId: this.id,
      revision: this.machine.store.currentRevision,
      raftTerm: this.raw.raft.term,
    };
  }

  // ---- leases ------------------------------------------------------------------------------------

  async leaseGrant(
    id: number,
    ttlSeconds: number,
    opts: CallOptions = {},
  ): Promise<{ id: number; ttlSeconds: number }> {
    const chosen = id === 0 ? this.leaseIds.next((x) => this.machine.leases.has(x)) : id;
    const res = await this.propose({ leaseGrant: { id: chosen, ttlSeconds } }, opts);
    if (!('leaseGrant' in res)) throw new Error('unexpected response to a lease grant');
    const granted = this.machine.leases instanceof LeaseTable ? this.machine.leases.get(chosen) : undefined;
    return { id: chosen, ttlSeconds: granted?.ttlSeconds ?? res.leaseGrant.ttlSeconds };
  }

  async leaseRevoke(id: number, opts: CallOptions = {}): Promise<void> {
    await this.propose({ leaseRevoke: { id } }, opts);
  }

  async leaseKeepAlive(id: number, opts: CallOptions = {}): Promise<number> {
    const r = (await this.onLeader(
      { op: 'keepAlive', id },
      () => this.localKeepAlive(id).then((ttl) => ({ ttl })),
      opts,
    )) as {
      ttl: number;
    };
    return r.ttl;
  }

  async leaseTimeToLive(id: number, keys: boolean, opts: CallOptions = {}) {
    const r = (await this.onLeader(
      { op: 'timeToLive', id, keys },
      () => Promise.resolve(this.localTimeToLive(id, keys)),
      opts,
    )) as ReturnType<NetcdMember['localTimeToLive']>;
    return { ...r, keys: r.keys.map((k) => new Uint8Array(k)) };
  }

  async leaseList(opts: CallOptions = {}): Promise<number[]> {
    await this.linearizableBarrier(opts);
    return this.machine.leases instanceof LeaseTable ? this.machine.leases.list() : [];
  }

  /** Runs `local` when this member leads, else asks the leader over the peer transport. */
  private async onLeader(
    req: PeerRequest,
    local: () => Promise<unknown>,
    opts: CallOptions,
  ): Promise<unknown> {
    this.checkUsable();
    const deadline = this.now() + this.requestTimeoutMs;
    for (;;) {
      if (this.leader === 0) await this.waitForLeader(opts.signal);
      try {
        if (this.leader === this.id) return await local();
        return await this.o.network.request(this.leader, req, Math.max(1, deadline - this.now()));
      } catch (err) {
        if (!isNotLeader(err) || this.now() >= deadline) throw remoteError(err);
      }
      await sleep(Math.min(50, this.o.heartbeatIntervalMs));
    }
  }

  private requireLeader(): void {
    if (this.raw.raft.state !== 'leader' || !this.leaseExpiry.leading) throw new KvError('LEASE_NOT_PRIMARY');
  }

  private async localKeepAlive(id: number): Promise<number> {
    this.requireLeader();
    const ttl = this.leaseExpiry.keepAlive(id);
    if (!this.leaseExpiry.renewalPending(id)) return ttl;
    // The renewal moved the deadline past what the log guarantees: answer once it is checkpointed.
    await new Promise<void>((release) => {
      this.heldRenewals.push({ id, at: this.now(), release });
      setImmediate(() => this.leaseDuties());
    });
    this.requireLeader();
    return ttl;
  }

  private localTimeToLive(id: number, keys: boolean) {
    this.requireLeader();
    const table = this.machine.leases as LeaseTable;
    const info = table.timeToLive(id, { keys });
    const remainingMs = this.leaseExpiry.remainingMs(id) ?? info.remainingMs;
    return {
      id,
      grantedTtlSeconds: info.grantedTtlSeconds,
      remainingMs,
      ttlSeconds: remainingMs <= 0 ? -1 : Math.floor(remainingMs / 1000),
      keys: info.keys,
    };
  }

  /** A new leader times leases once an entry of its own term has applied (the table is then current). */
  private maybeTakeOverLeases(): void {
    const r = this.raw.raft;
    if (r.state !== 'leader' || this.leaseExpiry.leading) return;
    const applied = this.machine.appliedIndex;
    if (r.log.zeroTermOnError(applied) !== r.term) return;
    this.leaseExpiry.becomeLeader(this.machine.leases as LeaseTable, this.now());
    this.logger.info({ leases: this.leaseExpiry.size }, 'timing leases as leader');
  }

  /** Leader duties: checkpoint remaining TTLs and revoke expired leases, both through raft. */
  private leaseDuties(): void {
    if (this.stopped || !this.leaseExpiry.leading) return;
    const now = this.now();
    const checkpoints = this.leaseExpiry.dueCheckpoints(now);
    if (checkpoints.length > 0) {
      const requestId = this.nextRequestId();
      this.checkpointsInFlight.set(requestId, {
        ids: new Set(checkpoints.map((c) => c.id)),
        proposedAt: now,
      });
      this.proposeInternal(requestId, { leaseCheckpoint: { checkpoints } });
    }
    const r = this.raw.raft;
    const batch = this.leaseExpiry.expired(now, { canRevoke: r.quorumActiveWithin(this.electionTicks) });
    if (batch.revoke.length > 0)
      this.proposeInternal(this.nextRequestId(), { leaseExpire: { ids: batch.revoke } });
  }

  /**
   * After a compaction, the leader proposes the removal of old versions one bounded step per tick
   * (see MvccStore.compact): each step is a log entry, so apply stays short and every member
   * removes the same versions at the same index. Surplus steps, proposed before the last one was
   * applied, find nothing left and change nothing.
   */
  private compactionDuties(): void {
    if (this.stopped || this.raw.raft.state !== 'leader' || this.machine.store.compaction === null) return;
    this.proposeInternal(this.nextRequestId(), { compactStep: {} });
  }

  private proposeInternal(requestId: string, request: KvRequest): void {
    try {
      this.raw.propose(encodeEnvelope({ requestId, request }));
      this.scheduleReady();
    } catch (err) {
      if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
    }
  }

  private releaseHeld(requestId: string): void {
    const cp = this.checkpointsInFlight.get(requestId);
    if (cp === undefined) return;
    this.checkpointsInFlight.delete(requestId);
    const keep: typeof this.heldRenewals = [];
    for (const h of this.heldRenewals) {
      if (cp.ids.has(h.id) && h.at <= cp.proposedAt) h.release();
      else keep.push(h);
    }
    this.heldRenewals = keep;
  }

  get leaseBacklog(): number {
    return this.leaseExpiry.backlog;
  }

  // ---- membership --------------------------------------------------------------------------------

  private publish(): void {
    this.published = true;
    const { name, clientURLs } = this.o;
    const current = this.machine.members.get(this.id);
    if (current !== undefined && current.name === name && sameList(current.clientURLs, clientURLs)) return;
    this.propose({ memberPublish: { id: this.id, name, clientURLs } }).catch((err: unknown) => {
      this.logger.warn({ err }, 'publishing member attributes failed; retrying');
      this.published = false;
    });
  }

  async members(opts: CallOptions = {}): Promise<MemberInfo[]> {
    await this.linearizableBarrier(opts);
    return this.machine.members.list().map(toInfo);
  }

  private memberChangeQueue: Promise<unknown> = Promise.resolve();

  /** Membership changes run one at a time: raft refuses a second while one is pending. */
  private serialized<T>(op: () => Promise<T>): Promise<T> {
    const run = this.memberChangeQueue.then(op, op);
    this.memberChangeQueue = run.catch(() => undefined);
    return run;
  }

  private async proposeConfChange(
    cc: Omit<ConfChange, 'context'>,
    requestId: string,
    context: Uint8Array,
    opts: CallOptions,
  ): Promise<void> {
    const waiting = this.proposals.wait(requestId, this.requestTimeoutMs, opts.signal);
    try {
      await this.proposeEntry(() => this.raw.proposeConfChange({ ...cc, context }), opts.signal);
    } catch (err) {
      this.proposals.reject(requestId, err);
    }
    const outcome = await waiting;
    if (!outcome.ok) throw outcome.error;
  }

  memberAdd(peerURLs: readonly string[], isLearner: boolean, opts: CallOptions = {}): Promise<MemberInfo> {
    return this.serialized(async () => {
      await this.linearizableBarrier(opts);
      const members = this.machine.members;
      for (const m of members.list())
        if (m.peerURLs.some((u) => peerURLs.includes(u)))
          throw new ServerError('PEER_URL_EXISTS', 'Peer URLs already exists');
      if (!isLearner) this.checkQuorumAfter(1);
      const id = randomMemberId((x) => members.get(x) !== undefined || members.isRemoved(x));
      const requestId = this.nextRequestId();
      await this.proposeConfChange(
        { transition: 'auto', changes: [{ type: isLearner ? 'addLearner' : 'addNode', nodeId: id }] },
        requestId,
        encodeMemberContext({ peerURLs, requestId }),
        opts,
      );
      const added = this.machine.members.get(id);
      if (added === undefined) throw new ServerError('TIMEOUT', 'request timed out');
      return toInfo(added);
    });
  }

  memberRemove(id: number, opts: CallOptions = {}): Promise<void> {
    return this.serialized(async () => {
      await this.linearizableBarrier(opts);
      const m = this.machine.members.get(id);
      if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND', 'member not found');
      if (!m.isLearner) this.checkQuorumAfter(-1, id);
      // A leader removing itself hands leadership over first, so the cluster keeps a leader.
      if (id === this.id && this.raw.raft.state === 'leader') await this.handOverLeadership();
      const requestId = this.nextRequestId();
      await this.proposeConfChange(
        { transition: 'auto', changes: [{ type: 'removeNode', nodeId: id }] },
        requestId,
        encodeContextId(requestId),
        opts,
      );
    });
  }

  async memberUpdate(id: number, peerURLs: readonly string[], opts: CallOptions = {}): Promise<void> {
    await this.linearizableBarrier(opts);
    if (this.machine.members.get(id) === undefined)
      throw new ServerError('MEMBER_NOT_FOUND', 'member not found');
    for (const m of this.machine.members.list())
      if (m.id !== id && m.peerURLs.some((u) => peerURLs.includes(u)))
        throw new ServerError('PEER_URL_EXISTS', 'Peer URLs already exists');
    await this.propose({ memberUpdate: { id, peerURLs } }, opts);
  }

  async memberPromote(id: number, opts: CallOptions = {}): Promise<void> {
    await this.onLeader({ op: 'promote', id }, () => this.localPromote(id), opts);
  }

  private localPromote(id: number): Promise<void> {
    return this.serialized(async () => {
      if (this.raw.raft.state !== 'leader') throw new ServerError('NOT_LEADER', 'not leader');
      const m = this.machine.members.get(id);
      if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND', 'member not found');
      if (!m.isLearner) throw new ServerError('MEMBER_NOT_LEARNER', 'can only promote a learner member');
      const pr = this.raw.raft.trk.progress.get(id);
      const committed = this.raw.raft.log.committed;
      if (pr === undefined || pr.match < committed * PROMOTE_READY_FRACTION)
        throw new ServerError(
          'LEARNER_NOT_READY',
          'can only promote a learner member which is in sync with leader',
        );
      const requestId = this.nextRequestId();
      await this.proposeConfChange(
        { transition: 'auto', changes: [{ type: 'addNode', nodeId: id }] },
        requestId,
        encodeContextId(requestId),
        {},
      );
    });
  }

  /** --strict-reconfig-check: the change must leave enough started, reachable voters for a quorum. */
  private checkQuorumAfter(delta: 1 | -1, removing = 0): void {
    if (this.o.strictReconfigCheck === false) return;
    const voters = this.confState.voters;
    const r = this.raw.raft;
    let active = 0;
    for (const v of voters) {
      if (v === removing) continue;
      if (v === this.id) active++;
      else if (r.state === 'leader' && r.trk.progress.get(v)?.recentActive === true) active++;
      else if (r.state !== 'leader') active++;
    }
    const size = voters.length + delta;
    if (active < Math.floor(size / 2) + 1) throw new ServerError('UNHEALTHY', 'unhealthy cluster');
  }

  // ---- maintenance -------------------------------------------------------------------------------

  async status(): Promise<MemberStatus> {
    const dbSize = await this.o.backend.sizeBytes();
    return {
      version: ETCD_API_VERSION,
      dbSize: Math.max(dbSize, this.machine.store.usageBytes),
      dbSizeInUse: this.machine.store.usageBytes,
      leader: this.leader,
      raftIndex: this.raw.raft.log.committed,
      raftTerm: this.raw.raft.term,
      raftAppliedIndex: this.machine.appliedIndex,
      errors: this.machine.activeAlarms().map((a) => `memberID:${a.memberId} alarm:${a.alarm} `),
      isLearner: this.confState.learners.includes(this.id),
    };
  }

  /** HashKV at `revision` once this member has applied it (a peer asking during a check). */
  private async hashKVWhenAt(
    revision: number,
  ): Promise<{ hash: number; compactRevision: number; revision: number }> {
    const deadline = this.now() + this.o.electionTimeoutMs * 2;
    while (this.machine.store.currentRevision < revision && this.now() < deadline) {
      this.checkUsable();
      await sleep(Math.min(20, this.o.heartbeatIntervalMs));
    }
    return this.machine.store.hashKV(revision);
  }

  get isLeader(): boolean {
    return this.raw.raft.state === 'leader';
  }

  /** What auto-compaction needs of this member. */
  compactionTarget(): CompactionTarget {
    return {
      isLeader: () => this.isLeader,
      currentRevision: () => this.machine.store.currentRevision,
      compactRevision: () => this.machine.store.compactRevision,
      compact: async (revision) => {
        await this.propose({ compaction: { revision } });
      },
    };
  }

  /** What the corruption check needs of this member. */
  corruptionTarget(): CorruptionTarget {
    return {
      isLeader: () => this.isLeader,
      memberId: () => this.id,
      peers: () =>
        this.machine.members
          .list()
          .map((m) => m.id)
          .filter((id) => id !== this.id),
      currentRevision: () => this.machine.store.currentRevision,
      localHash: async (revision) => this.machine.store.hashKV(revision),
      peerHash: async (peer, revision) =>
        (await this.o.network.request(peer, { op: 'hashKV', revision }, this.requestTimeoutMs)) as HashAt,
      raiseCorrupt: async (memberId) => {
        await this.alarm('activate', memberId, 'CORRUPT');
      },
    };
  }

  async hash(): Promise<number> {
    return this.machine.hash();
  }

  async hashKV(revision: number): Promise<{ hash: number; compactRevision: number; revision: number }> {
    return this.machine.store.hashKV(revision);
  }

  async *snapshotStream(): AsyncIterable<Uint8Array> {
    const bytes = this.machine.snapshot();
    const CHUNK = 32 * 1024;
    for (let i = 0; i < bytes.length; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
  }

  alarms(): readonly Alarm[] {
    return this.machine.activeAlarms();
  }

  async alarm(
    action: 'activate' | 'deactivate',
    memberId: number,
    alarm: Alarm['alarm'],
  ): Promise<readonly Alarm[]> {
    const res = await this.propose({ alarm: { action, memberId, alarm } });
    return 'alarm' in res ? res.alarm.alarms : this.machine.activeAlarms();
  }

  async defragment(): Promise<void> {
    await this.backendChain;
    await this.o.backend.defragment();
  }

  async moveLeader(targetId: number, opts: CallOptions = {}): Promise<void> {
    if (this.raw.raft.state !== 'leader') throw new ServerError('NOT_LEADER', 'not leader');
    if (!this.confState.voters.includes(targetId))
      throw new ServerError('BAD_LEADER_TRANSFEREE', 'bad leader transferee');
    await this.transferTo(targetId, this.requestTimeoutMs, opts.signal);
  }

  private async transferTo(target: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.leader === target) return;
    this.raw.transferLeader(target);
    this.scheduleReady();
    const deadline = this.now() + timeoutMs;
    while (this.leader !== target) {
      if (this.now() >= deadline) throw new ServerError('TIMEOUT', 'request timed out');
      if (signal?.aborted === true) throw new ServerError('CANCELED', 'context canceled');
      await sleep(Math.min(20, this.o.heartbeatIntervalMs));
    }
  }

  /** /health: healthy with a leader and no alarm (etcd's rule), else why not. */
  async health(): Promise<{ health: boolean; reason: string }> {
    if (this.stopped) return { health: false, reason: 'STOPPING' };
    if (this.leader === 0) return { health: false, reason: 'RAFT NO LEADER' };
    const alarms = this.machine.activeAlarms();
    if (alarms.length > 0) return { health: false, reason: `ALARM ${alarms.map((a) => a.alarm).join(',')}` };
    return { health: true, reason: '' };
  }

  /** Values the metrics read at scrape time. */
  gauges(): {
    isLeader: boolean;
    leader: number;
    term: number;
    committed: number;
    applied: number;
    pendingProposals: number;
    watchers: number;
    leases: number;
    leaseRevokeBacklog: number;
    dbSizeInUse: number;
  } {
    const r = this.raw.raft;
    return {
      isLeader: r.state === 'leader',
      leader: this.leader,
      term: r.term,
      committed: r.log.committed,
      applied: this.machine.appliedIndex,
      pendingProposals: this.proposals.size,
      watchers: this.watchHub.stats().watchers,
      leases: this.machine.leases instanceof LeaseTable ? this.machine.leases.size : 0,
      leaseRevokeBacklog: this.leaseExpiry.backlog,
      dbSizeInUse: this.machine.store.usageBytes,
    };
  }

  dbSizeBytes(): Promise<number> {
    return this.o.backend.sizeBytes();
  }

  /** What a member joining with --initial-cluster-state existing asks for: the membership. */
  clusterInfo(): { clusterId: number; members: MemberRecord[] } {
    return { clusterId: this.clusterId, members: this.machine.members.list() };
  }

  /** Raft status for diagnostics and tests. */
  raftStatus(): { term: number; lead: NodeId; role: string; committed: number; applied: number } {
    const r = this.raw.raft;
    return {
      term: r.term,
      lead: r.lead,
      role: r.state,
      committed: r.log.committed,
      applied: this.machine.appliedIndex,
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function toInfo(m: MemberRecord): MemberInfo {
  return { id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

/** A conf change entry's effect on membership (null for the empty leave-joint change). */
function membershipChange(
  cc: ConfChange,
  get: (id: number) => MemberRecord | undefined,
): MembershipChange | null {
  const c = cc.changes[0];
  if (c === undefined) return null;
  if (c.type === 'removeNode') return { kind: 'remove', id: c.nodeId };
  const existing = get(c.nodeId);
  if (c.type === 'addNode' && existing?.isLearner === true) return { kind: 'promote', id: c.nodeId };
  const context = decodeMemberContext(cc.context);
  return { kind: 'add', id: c.nodeId, learner: c.type === 'addLearner', context };
}

function describeChange(c: MembershipChange): string {
  return `${c.kind} ${c.id.toString(16)}`;
}

/** Context of conf changes that carry no member data: just the proposer's request id. */
function encodeContextId(requestId: string): Uint8Array {
  return encodeMemberContext({ peerURLs: [], requestId });
}

function decodeContextId(context: Uint8Array): string {
  try {
    return decodeMemberContext(context).requestId;
  } catch {
    return '';
  }
}

function isNotLeader(err: unknown): boolean {
  if (isKvError(err) && err.code === 'LEASE_NOT_PRIMARY') return true;
  const msg = err instanceof Error ? err.message : '';
  return msg.includes('not a primary lessor') || msg.includes('not leader');
}

/** Errors from a peer arrive as plain errors; keep lease-not-found recognisable. */
function remoteError(err: unknown): unknown {
  if (isKvError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.includes('requested lease not found')) return new KvError('LEASE_NOT_FOUND');
  return err;
}
