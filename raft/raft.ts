// The Raft state machine (one member). Pure and deterministic: inputs are messages and ticks,
// outputs are queued messages and log changes collected by RawNode into a Ready. Randomness
// comes only from the injected `randomInt`. Invariants (asserted): term never decreases, one
// vote per term, commit never decreases nor passes the last index, applied <= committed.

import { changeConfig, restoreConfig } from './confchange.js';
import { decodeConfChange, encodeConfChange } from './confchange-codec.js';
import { invariant, isRaftError, RaftError } from './errors.js';
import { NO_LIMIT, RaftLog } from './log.js';
import type { Progress } from './progress.js';
import { jointVote, majorityVote, type VoteResult } from './quorum.js';
import { ReadOnly, type ReadOnlyOption } from './readonly.js';
import type { Storage } from './storage.js';
import { describeConfig, isJoint, ProgressTracker } from './tracker.js';
import {
  type ConfChange,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  entrySizeBytes,
  type HardState,
  type Message,
  type MessageType,
  message,
  NONE,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
  voteRespType,
} from './types.js';

/**
 * Deliberately broken behaviours, off in production. The simulator's tests switch them on to
 * prove that it finds the violations they cause.
 */
export interface RaftBugs {
  /** Commit an entry of an earlier term by counting replicas (violates the Figure 8 rule). */
  readonly commitPreviousTerm?: boolean;
  /** Grant a vote even when this term's vote went to someone else. */
  readonly doubleVote?: boolean;
  /** Answer ReadIndex at once, without the heartbeat round that confirms leadership. */
  readonly readIndexWithoutHeartbeat?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Ticks without a leader's word before a follower campaigns (randomised in [n, 2n)). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Uniform random integer in [0, n): the only source of randomness. */
  readonly randomInt: (n: number) => number;
  /** Last applied index when restarting (entries up to it are not handed out again). */
  readonly applied?: number;
  /** Bound on the entry bytes in one append message. */
  readonly maxSizePerMsgBytes?: number;
  /** Bound on committed entry bytes handed out in one Ready. */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** Bound on a leader's uncommitted entry bytes; proposals beyond it are dropped. */
  readonly maxUncommittedEntriesBytes?: number;
  /** In-flight append messages per follower in replicate state. */
  readonly maxInflightMsgs?: number;
  readonly maxInflightBytes?: number;
  readonly checkQuorum?: boolean;
  readonly preVote?: boolean;
  readonly readOnlyOption?: ReadOnlyOption;
  readonly disableProposalForwarding?: boolean;
  readonly bugs?: RaftBugs;
}

export const DEFAULTS = {
  maxSizePerMsgBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 0,
} as const;

/** Context marking a campaign started by leadership transfer (bypasses leases). */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

type CampaignType = 'preElection' | 'election' | 'transfer';

function isCampaignTransfer(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly leadTransferee: NodeId;
  readonly config: string;
  readonly progress: ReadonlyMap<NodeId, string>;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateRole = 'follower';
  readonly log: RaftLog;
  trk: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId = NONE;
  /** Log index of the latest conf change proposed; a new one waits until it is applied. */
  pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private readOnly: ReadOnly;
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndex: Message[] = [];
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Ticks since this member started: the clock of lastActiveTick. */
  private ticks = 0;
  private randomizedElectionTimeout = 0;

  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  private readonly randomInt: (n: number) => number;
  readonly maxMsgBytes: number;
  private readonly maxUncommittedBytes: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  private readonly readOnlyOption: ReadOnlyOption;
  private readonly disableProposalForwarding: boolean;
  readonly bugs: RaftBugs;

  constructor(c: RaftConfig) {
    if (c.id === NONE || !Number.isInteger(c.id) || c.id < 0)
      throw new RangeError('raft: id must be a positive integer');
    if (c.heartbeatTicks <= 0) throw new RangeError('raft: heartbeatTicks must be > 0');
    if (c.electionTicks <= c.heartbeatTicks)
      throw new RangeError('raft: electionTicks must be > heartbeatTicks');
    const readOnlyOption = c.readOnlyOption ?? 'safe';
    if (readOnlyOption === 'leaseBased' && !c.checkQuorum) {
      throw new RangeError('raft: leaseBased reads need checkQuorum');
    }
    this.id = c.id;
    this.electionTicks = c.electionTicks;
    this.heartbeatTicks = c.heartbeatTicks;
    this.randomInt = c.randomInt;
    this.maxMsgBytes = c.maxSizePerMsgBytes ?? DEFAULTS.maxSizePerMsgBytes;
    this.maxUncommittedBytes = c.maxUncommittedEntriesBytes ?? NO_LIMIT;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.readOnlyOption = readOnlyOption;
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;
    this.bugs = c.bugs ?? {};
    this.readOnly = new ReadOnly(readOnlyOption);
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReadyBytes ?? NO_LIMIT);
    this.trk = new ProgressTracker({
      maxInflight: c.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs,
      maxInflightBytes: c.maxInflightBytes ?? DEFAULTS.maxInflightBytes,
    });

    const { hardState, confState } = c.storage.initialState();
    const restored = restoreConfig(this.trk, this.log.lastIndex(), confState);
    this.trk.config = restored.config;
    this.trk.progress = restored.progress;
    this.trk.checkInvariants();
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      invariant(
        hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
        `hard state commit ${hardState.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (c.applied !== undefined && c.applied > 0) this.log.appliedTo(c.applied);
    this.becomeFollower(this.term, NONE);
  }

  // ---- state accessors ----

  softState(): SoftState {
    return { lead: this.lead, role: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, string>();
    if (this.state === 'leader')
      for (const id of this.trk.ids()) progress.set(id, this.trk.progress.get(id)!.describe());
    return {
      id: this.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      leadTransferee: this.leadTransferee,
      config: describeConfig(this.trk.config),
      progress,
    };
  }

  /** Whether this member may campaign: it votes, and is not waiting for a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  // ---- term, vote and role transitions ----

  private setTerm(term: number): void {
    invariant(term >= this.term, `term went backwards from ${this.term} to ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
  }

  private setVote(id: NodeId): void {
    invariant(
      this.bugs.doubleVote === true || this.vote === NONE || this.vote === id,
      `second vote in term ${this.term}: ${this.vote} then ${id}`,
    );
    this.vote = id;
  }

  private reset(term: number): void {
    this.setTerm(term);
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.randomInt(this.electionTicks);
    this.leadTransferee = NONE;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const fresh = this.trk.newProgress(last + 1, pr.isLearner);
      if (id === this.id) fresh.match = last;
      this.trk.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly(this.readOnlyOption);
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  becomeCandidate(): void {
    invariant(this.state !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.setVote(this.id);
    this.state = 'candidate';
  }

  becomePreCandidate(): void {
    invariant(this.state !== 'leader', 'leader cannot become pre-candidate');
    // Term and vote stay: a pre-election changes no persistent state.
    this.trk.resetVotes();
    this.lead = NONE;
    this.state = 'preCandidate';
  }

  becomeLeader(): void {
    invariant(this.state !== 'follower', 'follower cannot become leader directly');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.trk.progress.get(this.id);
    self?.becomeReplicate();
    // The leader is always active: CheckQuorum counts it (and never clears its mark).
    if (self !== undefined) self.recentActive = true;
    // Conservatively treat any conf change in the uncommitted tail as pending.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry of a new term: committing it commits everything before it (Figure 8).
    const ok = this.appendEntries([{ term: 0, index: 0, type: 'normal', data: EMPTY_BYTES }]);
    invariant(ok, 'empty leader entry refused');
  }

  // ---- ticks ----

  tick(): void {
    this.ticks++;
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(message({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: 'checkQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: 'beat', from: this.id }));
    }
  }

  // ---- sending ----

  private send(m: Message): void {
    const needsTerm =
      m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp';
    if (needsTerm) {
      invariant(m.term !== 0, `term unset on ${m.type}`);
      this.msgs.push({ ...m, from: this.id });
    } else {
      invariant(m.term === 0, `term set on ${m.type}`);
      // Proposals and read requests forwarded to the leader carry no term (they are local in spirit).
      const term = m.type === 'prop' || m.type === 'readIndex' ? 0 : this.term;
      // A forwarded message keeps its origin: a transferLeader's `from` names the transferee.
      this.msgs.push({ ...m, from: m.from === NONE ? this.id : m.from, term });
    }
  }

  /** Sends an append (or a snapshot) to `to` if its progress allows; returns whether it sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = pr.state === 'replicate' || !pr.probeSent ? this.log.entries(pr.next, this.maxMsgBytes) : [];
    } catch (err) {
      if (isRaftError(err, 'COMPACTED') || isRaftError(err, 'UNAVAILABLE')) return this.maybeSendSnapshot(to);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    this.send(
      message({
        type: 'app',
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      }),
    );
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  private maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (isRaftError(err, 'SNAPSHOT_TEMPORARILY_UNAVAILABLE')) return false;
      throw err;
    }
    invariant(snap.metadata.index > 0, 'need a non-empty snapshot');
    pr.becomeSnapshot(snap.metadata.index);
    this.send(message({ type: 'snap', to, snapshot: snap }));
    return true;
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: Uint8Array | null): void {
    for (const id of this.trk.ids()) {
      if (id === this.id) continue;
      const pr = this.trk.progress.get(id)!;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(message({ type: 'heartbeat', to: id, commit, context: ctx ?? EMPTY_BYTES }));
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: 'timeoutNow', to }));
  }

  // ---- log and commit ----

  private appendEntries(es: readonly Entry[]): boolean {
    let li = this.log.lastIndex();
    const ents = es.map((e, i) => ({ ...e, term: this.term, index: li + 1 + i }));
    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    // The leader's empty entry is never refused: without it nothing of this term could commit.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes)
      return false;
    this.uncommittedBytes += bytes;
    li = this.log.append(ents);
    // The leader's own entries count once they are in the Ready it persists before sending.
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  /** Advances the commit index to what a quorum holds; returns whether it moved. */
  maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (this.bugs.commitPreviousTerm === true) {
      if (mci > this.log.committed && mci <= this.log.lastIndex()) {
        this.log.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(mci, this.term);
  }

  /** Called by RawNode after the application reports entries applied. */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.state !== 'leader') return;
    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  appliedTo(index: number): void {
    const old = this.log.applied;
    this.log.appliedTo(index);
    if (
      this.state === 'leader' &&
      this.trk.config.autoLeave &&
      index >= this.pendingConfIndex &&
      old < index
    ) {
      // The joint config is in place everywhere it matters: propose leaving it.
      const leave: ConfChange = { transition: 'auto', changes: [], context: EMPTY_BYTES };
      try {
        this.step(
          message({
            type: 'prop',
            from: this.id,
            entries: [{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(leave) }],
          }),
        );
      } catch (err) {
        if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
      }
    }
  }

  appliedSnapshot(snap: Snapshot): void {
    const index = snap.metadata.index;
    if (index > this.log.applied) this.log.applied = index;
  }

  // ---- membership ----

  applyConfChange(cc: ConfChange): ConfState {
    const { config, progress } = changeConfig(this.trk, this.log.lastIndex(), cc);
    return this.switchToConfig(config, progress);
  }

  private switchToConfig(
    config: ProgressTracker['config'],
    progress: ProgressTracker['progress'],
  ): ConfState {
    this.trk.config = config;
    this.trk.progress = progress;
    this.trk.checkInvariants();
    const cs = this.trk.confState();
    const self = this.trk.progress.get(this.id);
    if ((self === undefined || self.isLearner) && this.state === 'leader') {
      // Removed or demoted: tell everyone the commit index, then stop leading.
      this.bcastAppend();
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.state !== 'leader' || cs.voters.length === 0) return cs;
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      for (const id of this.trk.ids()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    return cs;
  }

  // ---- elections ----

  private poll(id: NodeId, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) return;
    let voteMsg: MessageType;
    let term: number;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteMsg = 'preVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = 'vote';
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single-voter config wins at once.
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      this.send(
        message({
          type: voteMsg,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: t === 'transfer' ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
        }),
      );
    }
  }

  private hup(t: CampaignType): void {
    if (this.state === 'leader') return;
    if (!this.promotable()) return;
    // An unapplied committed conf change might remove us: wait until it is applied.
    if (this.log.committed > this.log.applied) {
      const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, NO_LIMIT);
      if (ents.some((e) => e.type === 'confChange')) return;
    }
    this.campaign(t);
  }

  // ---- step ----

  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = isCampaignTransfer(m.context);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTicks;
        // A leader we heard from recently is alive: ignore the disruptive candidate.
        if (!force && inLease) return;
      }
      if (m.type === 'preVote') {
        // Never change our term in response to a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term is bumped when the pre-election is won.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader cut off by a partition learns our term and steps down.
        this.send(message({ type: 'appResp', to: m.from }));
      } else if (m.type === 'preVote') {
        this.send(message({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.preVote ? 'preElection' : 'election');
        return;
      case 'vote':
      case 'preVote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === 'preVote' && m.term > this.term) ||
          (this.bugs.doubleVote === true && m.type === 'vote');
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // A pre-vote answer carries the candidate's future term so it is not dropped as stale.
          this.send(message({ type: voteRespType(m.type), to: m.from, term: m.term }));
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.setVote(m.from);
          }
        } else {
          this.send(message({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
        }
        return;
      }
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat(this.readOnly.lastPendingRequestContext());
        return;
      case 'checkQuorum':
        if (!this.trk.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case 'prop':
        this.stepLeaderPropose(m);
        return;
      case 'readIndex':
        if (this.trk.isSingleton() || this.bugs.readIndexWithoutHeartbeat === true) {
          this.respondToReadIndex(m, this.log.committed);
          return;
        }
        // Until an entry of this term is committed, our commit index may be behind the cluster's.
        if (this.log.zeroTermOnError(this.log.committed) !== this.term) {
          this.pendingReadIndex.push(m);
          return;
        }
        this.serveReadIndex(m);
        return;
    }
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp': {
        this.markActive(pr);
        if (m.reject) {
          let nextProbe = m.rejectHint;
          if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) return;
        if (pr.state === 'probe') {
          pr.becomeReplicate();
        } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === 'replicate') {
          pr.inflights.freeLE(m.index);
        }
        if (this.maybeCommit()) {
          this.releasePendingReadIndex();
          this.bcastAppend();
        } else if (wasPaused) {
          this.sendAppend(m.from);
        }
        // Fill the window: pipelined appends while the follower keeps up.
        for (let i = 0; i < this.trk.limits.maxInflight && this.maybeSendAppend(m.from, false); i++) {
          // each iteration sent one message
        }
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        return;
      }
      case 'heartbeatResp': {
        this.markActive(pr);
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (this.readOnlyOption !== 'safe' || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === null) return;
        const result =
          this.trk.config.voters[1].size === 0
            ? majorityVote(this.trk.config.voters[0], acks)
            : this.jointAck(acks);
        if (result !== 'won') return;
        for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
        return;
      }
      case 'snapStatus':
        if (pr.state !== 'snapshot') return;
        if (m.reject) {
          // The snapshot never arrived: probe from match + 1, not from after the snapshot.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          // Wait for a heartbeat response before probing again.
          pr.probeSent = true;
        } else {
          pr.becomeProbe();
        }
        return;
      case 'unreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case 'transferLeader': {
        if (pr.isLearner) return;
        const transferee = m.from;
        if (this.leadTransferee !== NONE) {
          if (this.leadTransferee === transferee) return;
          this.leadTransferee = NONE;
        }
        if (transferee === this.id) return;
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return;
      }
    }
  }

  private markActive(pr: Progress): void {
    pr.recentActive = true;
    pr.lastActiveTick = this.ticks;
  }

  /**
   * Whether this leader heard from a quorum within the last `windowTicks` ticks. A leader that
   * has not cannot know it still leads, so lease revocation and lease reads must wait.
   */
  quorumActiveWithin(windowTicks: number): boolean {
    if (this.state !== 'leader') return false;
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.trk.progress) {
      if (pr.isLearner) continue;
      active.set(
        id,
        id === this.id || (pr.lastActiveTick >= 0 && this.ticks - pr.lastActiveTick <= windowTicks),
      );
    }
    return jointVote(this.trk.config.voters, active) === 'won';
  }

  private jointAck(acks: ReadonlyMap<NodeId, boolean>): VoteResult {
    const a = majorityVote(this.trk.config.voters[0], acks);
    const b = majorityVote(this.trk.config.voters[1], acks);
    return a === 'won' && b === 'won' ? 'won' : 'pending';
  }

  private stepLeaderPropose(m: Message): void {
    invariant(m.entries.length > 0, 'empty proposal');
    if (!this.trk.progress.has(this.id)) throw new RaftError('PROPOSAL_DROPPED', 'leader was removed');
    if (this.leadTransferee !== NONE)
      throw new RaftError('PROPOSAL_DROPPED', 'leadership transfer in progress');
    const ents = m.entries.map((e, i) => {
      if (e.type !== 'confChange') return e;
      const cc = decodeConfChange(e.data);
      const alreadyPending = this.pendingConfIndex > this.log.applied;
      const alreadyJoint = isJoint(this.trk.config);
      const wantsLeave = cc.changes.length === 0;
      if (alreadyPending || (alreadyJoint && !wantsLeave) || (!alreadyJoint && wantsLeave)) {
        // Refused conf changes become empty entries so the proposer sees them applied as no-ops.
        return { ...e, type: 'normal' as const, data: EMPTY_BYTES };
      }
      this.pendingConfIndex = this.log.lastIndex() + i + 1;
      return e;
    });
    if (!this.appendEntries(ents)) throw new RaftError('PROPOSAL_DROPPED', 'too many uncommitted bytes');
    this.bcastAppend();
  }

  private serveReadIndex(m: Message): void {
    if (this.readOnlyOption === 'leaseBased') {
      this.respondToReadIndex(m, this.log.committed);
      return;
    }
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeat(m.context);
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0) return;
    if (this.log.zeroTermOnError(this.log.committed) !== this.term) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.serveReadIndex(m);
  }

  private respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context });
      return;
    }
    this.send(message({ type: 'readIndexResp', to: req.from, index, context: req.context }));
  }

  private stepCandidate(m: Message): void {
    const myVoteResp: MessageType = this.state === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        throw new RaftError('PROPOSAL_DROPPED', 'no leader');
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
    }
    if (m.type !== myVoteResp) return;
    const result = this.poll(m.from, !m.reject);
    if (result === 'won') {
      if (this.state === 'preCandidate') {
        this.campaign('election');
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      // A pre-candidate that lost keeps its term; a candidate already moved to the new one.
      this.becomeFollower(this.term, NONE);
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) throw new RaftError('PROPOSAL_DROPPED', 'no leader');
        if (this.disableProposalForwarding) throw new RaftError('PROPOSAL_DROPPED', 'forwarding disabled');
        this.send({ ...m, to: this.lead });
        return;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'transferLeader':
        if (this.lead === NONE) return;
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'timeoutNow':
        // Leadership transfer: campaign at once, skipping the pre-vote.
        this.hup('transfer');
        return;
      case 'readIndex':
        if (this.lead === NONE) return;
        this.send({ ...m, to: this.lead });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: 'appResp', to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send(message({ type: 'appResp', to: m.from, index: lastNew }));
      return;
    }
    // Mismatch: hint the largest index whose term is <= the leader's term at m.index, so the
    // leader can skip a whole term of conflicting entries at once.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      message({
        type: 'appResp',
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: 'heartbeatResp', to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    invariant(m.snapshot !== null, 'snap message without snapshot');
    if (this.restore(m.snapshot)) {
      this.send(message({ type: 'appResp', to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: 'appResp', to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a snapshot from the leader; returns false if it is stale or already covered. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    // Committed entries already handed to the application are still being applied: replacing the
    // membership now would make their conf changes apply to the snapshot's config. The leader
    // retries the snapshot once they are applied.
    if (this.log.applied < this.log.committed) return false;
    invariant(this.state === 'follower', `snapshot restored as ${this.state}`);
    const cs = s.metadata.confState;
    const known = [...cs.voters, ...cs.learners, ...cs.votersOutgoing].includes(this.id);
    if (!known) return false;
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already hold the snapshot's last entry: fast-forward the commit instead.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    const { config, progress } = restoreConfig(this.trk, this.log.lastIndex(), cs);
    this.switchToConfig(config, progress);
    return true;
  }
}
