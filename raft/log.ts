// The raft log: durable entries in Storage followed by unstable entries in memory.
// Invariants: applied <= committed <= lastIndex, committed never decreases, and the log
// below `committed` is never truncated.

import { invariant, isRaftError, RaftError } from './errors.js';
import { limitSize, type Storage } from './storage.js';
import type { Entry, Snapshot } from './types.js';
import { Unstable } from './unstable.js';

export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Bound on the bytes of committed entries handed out in one Ready. */
  readonly maxApplyBytes: number;

  constructor(storage: Storage, maxApplyBytes: number = NO_LIMIT) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term at `index`; throws COMPACTED below the first index - 1 and UNAVAILABLE past the last. */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy) throw new RaftError('COMPACTED');
    if (index > this.lastIndex()) throw new RaftError('UNAVAILABLE');
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  /** Term at `index`, or 0 when it is compacted or not yet in the log. */
  zeroTermOnError(index: number): number {
    try {
      return this.term(index);
    } catch (err) {
      if (isRaftError(err, 'COMPACTED') || isRaftError(err, 'UNAVAILABLE')) return 0;
      throw err;
    }
  }

  matchTerm(index: number, term: number): boolean {
    return this.zeroTermOnError(index) === term;
  }

  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries: if our entry at `index` has `logTerm`, append `ents` after
   * truncating any conflict, advance commit, and return the new last index; otherwise null.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      invariant(
        conflict > this.committed,
        `entry ${conflict} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(ents.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    invariant(after >= this.committed, `append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry of `ents` that is not in our log with the same term, or 0. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Largest index <= `index` whose term is <= `term` (leader side of fast backtracking), with
   * that term. Stops at the first index still in the log.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      let t: number;
      try {
        t = this.term(i);
      } catch {
        return { index: i, term: 0 };
      }
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  hasNextEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** Committed entries not yet applied, bounded by maxApplyBytes. */
  nextEntries(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, this.maxApplyBytes);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== null && this.unstable.snapshot.metadata.index > 0;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(commit: number): void {
    if (this.committed >= commit) return;
    invariant(commit <= this.lastIndex(), `commit ${commit} beyond last index ${this.lastIndex()}`);
    this.committed = commit;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    invariant(
      index <= this.committed && index >= this.applied,
      `applied ${index} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Leader commit rule: commit `maxIndex` only if it belongs to the current `term` (Figure 8). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTermOnError(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }

  /** Entries from `index` to the end, bounded by maxBytes; [] if index is past the end. */
  entries(index: number, maxBytes: number): Entry[] {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  /** Entries in [lo, hi) from storage and unstable, bounded by maxBytes; throws COMPACTED. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo === hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new RaftError('COMPACTED');
    invariant(
      hi <= this.lastIndex() + 1 && lo <= hi,
      `slice[${lo},${hi}) out of bound [${first},${this.lastIndex()}]`,
    );
    let ents: Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      const stored = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      // Storage hit the byte limit: return what fits.
      if (stored.length < Math.min(hi, uoff) - lo) return stored;
      ents = stored;
    }
    if (hi > uoff) {
      const u = this.unstable.slice(Math.max(lo, uoff), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }

  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), NO_LIMIT);
  }
}
