// One simulated member: a RawNode, its durable disk (MemoryStorage, written only when a
// simulated fsync completes), its replicated kv state machine, and the client requests it
// holds. A crash drops everything but the disk; a restart rebuilds the member from it.

import type { LeaseExpiry } from '../../kv/lease/expiry.js';
import type { WatchHub } from '../../kv/watch/hub.js';
import { decodeConfChange } from '../../raft/confchange-codec.js';
import type { RaftBugs } from '../../raft/raft.js';
import { RawNode } from '../../raft/rawnode.js';
import type { MemoryStorage } from '../../raft/storage.js';
import type { ConfState, NodeId, Ready, Snapshot } from '../../raft/types.js';
import { KvApp } from './kv-app.js';

export interface NodeTuning {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsgBytes: number;
  readonly maxInflightMsgs: number;
  /** Take a snapshot and compact the log every this many applied entries. */
  readonly snapshotEvery: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly compactionLag: number;
  readonly bugs: RaftBugs;
}

export interface PendingRead {
  readonly client: number;
  readonly seq: number;
  readonly key: string;
  /** Set when the read index arrives; the read is served once applied reaches it. */
  index: number | null;
}

export class SimNode {
  readonly id: NodeId;
  readonly disk: MemoryStorage;
  private readonly tuning: NodeTuning;
  private readonly randomInt: (n: number) => number;
  raw: RawNode | null = null;
  app = KvApp.create(null);
  /** Watches served by this member; replaced (all watches lost) when it restarts. */
  hub: WatchHub = this.app.newWatchHub();
  confState: ConfState;
  /** Bumped on every crash so events scheduled for the old incarnation are ignored. */
  epoch = 0;
  /** A Ready whose write is in flight on the simulated disk. */
  inflightReady: Ready | null = null;
  diskLatencyMs: number;
  readonly baseDiskLatencyMs: number;
  tickRatePercent = 100;
  /** Proposals by "client:seq" awaiting apply here. */
  readonly pendingWrites = new Map<string, { client: number; seq: number }>();
  readonly pendingReads = new Map<string, PendingRead>();
  /** Leader-side lease clock; null until this member first ticks as leader after a start. */
  leaseExpiry: LeaseExpiry | null = null;
  lastRole = '';
  lastTerm = 0;

  constructor(
    id: NodeId,
    disk: MemoryStorage,
    tuning: NodeTuning,
    randomInt: (n: number) => number,
    diskLatencyMs: number,
  ) {
    this.id = id;
    this.disk = disk;
    this.tuning = tuning;
    this.randomInt = randomInt;
    this.diskLatencyMs = diskLatencyMs;
    this.baseDiskLatencyMs = diskLatencyMs;
    this.confState = disk.initialState().confState;
  }

  get up(): boolean {
    return this.raw !== null;
  }

  /** Starts (or restarts) from what the disk holds. */
  start(): void {
    const snap = this.disk.snapshot();
    this.app = KvApp.create(snap.data);
    this.hub = this.app.newWatchHub();
    this.confState = snap.metadata.confState;
    // Conf changes in the durable log after the snapshot are re-applied as entries replay.
    this.raw = new RawNode({
      id: this.id,
      storage: this.disk,
      electionTicks: this.tuning.electionTicks,
      heartbeatTicks: this.tuning.heartbeatTicks,
      randomInt: this.randomInt,
      applied: snap.metadata.index,
      preVote: this.tuning.preVote,
      checkQuorum: this.tuning.checkQuorum,
      maxSizePerMsgBytes: this.tuning.maxSizePerMsgBytes,
      maxInflightMsgs: this.tuning.maxInflightMsgs,
      bugs: this.tuning.bugs,
    });
    this.lastRole = 'follower';
    this.lastTerm = this.raw.raft.term;
  }

  crash(): void {
    this.raw = null;
    this.leaseExpiry = null;
    this.inflightReady = null;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.epoch++;
  }

  /** Makes a Ready durable: what a completed fsync means. */
  persist(rd: Ready): void {
    if (rd.snapshot !== null) this.disk.applySnapshot(rd.snapshot);
    this.disk.append(rd.entries);
    if (rd.hardState !== null) this.disk.setHardState(rd.hardState);
  }

  /** Installs a snapshot into the state machine. */
  installSnapshot(rd: Ready): void {
    if (rd.snapshot === null) return;
    // Same store object, new contents: watchers stay and catch up from the restored history.
    this.app.restore(rd.snapshot.data);
    this.hub.restore();
    this.confState = rd.snapshot.metadata.confState;
  }

  applyConfChange(data: Uint8Array): void {
    const raw = this.raw!;
    this.confState = raw.applyConfChange(decodeConfChange(data));
  }

  /** Snapshot and compact after every `snapshotEvery` applied entries. */
  maybeSnapshot(applied: number): void {
    const snapIndex = this.disk.snapshot().metadata.index;
    if (applied - snapIndex < this.tuning.snapshotEvery) return;
    this.disk.createSnapshot(applied, this.confState, this.app.snapshot());
    const compactTo = applied - this.tuning.compactionLag;
    if (compactTo > this.disk.firstIndex()) this.disk.compact(compactTo);
  }

  /** A snapshot of the state machine as applied right now. */
  currentSnapshot(): Snapshot {
    const log = this.raw!.raft.log;
    const index = log.applied;
    return {
      metadata: { index, term: log.term(index), confState: this.confState },
      data: this.app.snapshot(),
    };
  }

  isVoter(): boolean {
    return this.confState.voters.includes(this.id) || this.confState.votersOutgoing.includes(this.id);
  }
}
