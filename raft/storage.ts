// Storage is raft's read-only view of the durable log. The application writes to it (append,
// hard state, snapshots) after each Ready; raft only reads. MemoryStorage is the in-memory
// implementation used by tests and the simulator.

import { invariant, RaftError } from './errors.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { emptyHardState, emptySnapshot, entrySizeBytes } from './types.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any exist, at most `maxBytes` beyond the first. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at `index`; index may be firstIndex()-1 (the snapshot's). */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** Keeps a prefix of `entries` whose total size stays within `maxBytes` (always at least one). */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySizeBytes(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState();
  private snap: Snapshot = emptySnapshot();
  /** ents[0] is a dummy holding the snapshot's index and term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }];

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftError('COMPACTED');
    if (hi > this.lastIndex() + 1)
      throw new RaftError('UNAVAILABLE', `hi ${hi} beyond last ${this.lastIndex()}`);
    if (this.ents.length === 1) throw new RaftError('UNAVAILABLE');
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new RaftError('COMPACTED');
    if (index - offset >= this.ents.length) throw new RaftError('UNAVAILABLE');
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the storage's contents with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new RaftError('SNAPSHOT_OUT_OF_DATE');
    this.snap = snap;
    this.ents = [
      { term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: new Uint8Array(0) },
    ];
  }

  /** Records a snapshot of the application's state at `index` (which must be applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftError('SNAPSHOT_OUT_OF_DATE');
    const offset = this.ents[0]!.index;
    if (index < offset) throw new RaftError('COMPACTED');
    invariant(index <= this.lastIndex(), `snapshot ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { metadata: { index, term: this.ents[index - offset]!.term, confState }, data };
    return this.snap;
  }

  /** Discards entries up to and including `compactIndex`. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new RaftError('COMPACTED');
    invariant(
      compactIndex <= this.lastIndex(),
      `compact ${compactIndex} beyond last index ${this.lastIndex()}`,
    );
    const i = compactIndex - offset;
    const head = this.ents[i]!;
    this.ents = [
      { term: head.term, index: head.index, type: 'normal', data: new Uint8Array(0) },
      ...this.ents.slice(i + 1),
    ];
  }

  /** Appends entries, truncating any conflicting suffix. Entries before the first index are ignored. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    const kept = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = kept[0]!.index - this.ents[0]!.index;
    invariant(offset <= this.ents.length, `missing log entry before ${kept[0]!.index}`);
    if (offset === this.ents.length) {
      // The common case, appending at the end: no copy of the whole log.
      for (const e of kept) this.ents.push(e);
    } else {
      this.ents = this.ents.slice(0, offset).concat(kept);
    }
  }

  /** A deep copy, as a crash-surviving disk image in the simulator. */
  clone(): MemoryStorage {
    const s = new MemoryStorage();
    s.hardState = this.hardState;
    s.snap = this.snap;
    s.ents = this.ents.slice();
    return s;
  }
}
