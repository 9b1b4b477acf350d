// RawNode: the application's handle on one raft member. The caller drives it (tick, step,
// propose), takes a Ready, persists its hard state, entries and snapshot durably, then sends its
// messages, applies its committed entries, and calls advance(ready).

import { encodeConfChange } from './confchange-codec.js';
import { invariant, RaftError } from './errors.js';
import { Raft, type RaftConfig, type RaftStatus } from './raft.js';
import {
  type ConfChange,
  type ConfState,
  EMPTY_BYTES,
  type HardState,
  hardStateEqual,
  isLocalMessage,
  isResponseMessage,
  type Message,
  message,
  type NodeId,
  type Ready,
  type SoftState,
} from './types.js';

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (skipping the randomised wait). */
  campaign(): void {
    this.raft.step(message({ type: 'hup', from: this.raft.id }));
  }

  /** Proposes `data` for the log; throws PROPOSAL_DROPPED when no leader can take it. */
  propose(data: Uint8Array): void {
    this.raft.step(
      message({ type: 'prop', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'normal', data }] }),
    );
  }

  /**
   * Proposes several entries in one message: one append per follower carries them all. All or
   * none are taken (PROPOSAL_DROPPED).
   */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    this.raft.step(
      message({
        type: 'prop',
        from: this.raft.id,
        entries: data.map((d) => ({ term: 0, index: 0, type: 'normal' as const, data: d })),
      }),
    );
  }

  proposeConfChange(cc: ConfChange): void {
    this.raft.step(
      message({
        type: 'prop',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) }],
      }),
    );
  }

  /** Applies a committed conf change entry to the membership; returns the new ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Feeds a message received from a peer. */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new RaftError('STEP_LOCAL_MSG');
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from))
      throw new RaftError('STEP_PEER_NOT_FOUND');
    this.raft.step(m);
  }

  /** Requests a linearizable read point; the answer arrives as a ReadState with `context`. */
  readIndex(context: Uint8Array): void {
    this.raft.step(message({ type: 'readIndex', from: this.raft.id, context }));
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): void {
    this.raft.step(
      message({ type: 'transferLeader', from: transferee, to: this.raft.id, context: EMPTY_BYTES }),
    );
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: 'unreachable', from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: 'snapStatus', from: id, reject: !ok }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (!softEqual(r.softState(), this.prevSoftState)) return true;
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState)) return true;
    if (r.log.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.log.unstableEntries().length > 0 || r.log.hasNextEntries()) return true;
    return r.readStates.length > 0;
  }

  /** Collects everything to persist, send and apply. Messages and read states are handed over once. */
  ready(): Ready {
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    invariant(
      hard.term >= this.prevHardState.term,
      `term went backwards ${this.prevHardState.term} -> ${hard.term}`,
    );
    invariant(
      hard.commit >= this.prevHardState.commit,
      `commit went backwards ${this.prevHardState.commit} -> ${hard.commit}`,
    );
    invariant(
      hard.commit <= r.log.lastIndex(),
      `commit ${hard.commit} beyond last index ${r.log.lastIndex()}`,
    );
    const entries = r.log.unstableEntries().slice();
    const hardChanged = !hardStateEqual(hard, this.prevHardState);
    const rd: Ready = {
      softState: softEqual(soft, this.prevSoftState) ? null : soft,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextEntries(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 ||
        (hardChanged && (hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote)),
    };
    r.msgs = [];
    r.readStates = [];
    // Recorded now so a second ready() before advance() does not repeat the hard state.
    if (rd.softState !== null) this.prevSoftState = rd.softState;
    if (rd.hardState !== null) this.prevHardState = rd.hardState;
    return rd;
  }

  /** The Ready's entries are durable and its committed entries applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.snapshot !== null) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      r.appliedSnapshot(rd.snapshot);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.log.stableTo(lastEntry.index, lastEntry.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      r.appliedTo(lastApplied.index);
      r.reduceUncommittedSize(rd.committedEntries);
    }
  }

  status(): RaftStatus {
    return this.raft.status();
  }
}

function softEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}
