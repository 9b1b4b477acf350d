// The part of a durable raft log that does not depend on the medium: the in-memory image that
// serves raft's synchronous Storage reads, validation of writer calls with MemoryStorage's exact
// semantics, one-at-a-time writer calls, and the rule that memory changes only after the disk has.

import { invariant, RaftError } from '../../raft/errors.js';
import { type InitialState, limitSize, type Storage } from '../../raft/storage.js';
import {
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  emptyHardState,
  emptySnapshot,
  type HardState,
  type Snapshot,
  type SnapshotMetadata,
} from '../../raft/types.js';
import { isWalError, WalError } from './errors.js';
import type { LogPosition } from './record.js';

/** A raft log that survives restarts: raft's read-only Storage plus the writer's side. */
export interface RaftLog extends Storage {
  /**
   * Persists one Ready: an installed snapshot (replaces the log), entries (replacing any
   * conflicting suffix) and the hard state, in one write and one fsync; resolves once durable,
   * and reads reflect it from then on. With `mustSync` false (Ready.mustSync: only the commit
   * index moved) a lone hard state is held back and written with the next write or on close.
   */
  save(
    hardState: HardState | null,
    entries: readonly Entry[],
    snapshot: Snapshot | null,
    mustSync?: boolean,
  ): Promise<void>;
  /** Records a snapshot taken locally at applied `index`; the log itself is kept. */
  createSnapshot(index: number, confState: ConfState, data?: Uint8Array): Promise<Snapshot>;
  /** Discards entries up to and including `index`; storage for them is freed when it can be. */
  compact(index: number): Promise<void>;
  /** The bytes `snapshot()` returns with the stored metadata (not persisted: the state machine's). */
  setSnapshotData(data: Uint8Array): void;
  close(): Promise<void>;
}

/** Everything a raft log holds, as replay rebuilds it. */
export interface LogImage {
  hardState: HardState;
  snapshot: SnapshotMetadata;
  /** The last discarded entry: entries[i].index === offset.index + 1 + i. */
  offset: LogPosition;
  entries: Entry[];
}

export function emptyImage(): LogImage {
  return {
    hardState: emptyHardState(),
    snapshot: emptySnapshot().metadata,
    offset: { index: 0, term: 0 },
    entries: [],
  };
}

export function lastPosition(image: LogImage): LogPosition {
  const last = image.entries[image.entries.length - 1];
  return last === undefined ? image.offset : { index: last.index, term: last.term };
}

/** Appends `kept` (contiguous, starting within [offset+1, last+1]), dropping what followed. */
export function appendToImage(image: LogImage, kept: readonly Entry[]): void {
  if (kept.length === 0) return;
  const at = kept[0]!.index - image.offset.index - 1;
  invariant(at >= 0 && at <= image.entries.length, `append at ${kept[0]!.index} outside the log`);
  image.entries.length = at;
  for (const e of kept) image.entries.push(e);
}

export function compactImage(image: LogImage, to: LogPosition): void {
  image.entries.splice(0, to.index - image.offset.index);
  image.offset = to;
}

export function installInImage(image: LogImage, meta: SnapshotMetadata): void {
  image.snapshot = meta;
  image.offset = { index: meta.index, term: meta.term };
  image.entries = [];
}

/** What one save writes, after validation. */
export interface SavePlan {
  readonly install: SnapshotMetadata | null;
  /** The entries that land (those before the first index are dropped, as MemoryStorage does). */
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

export abstract class DurableLog implements RaftLog {
  protected readonly image: LogImage;
  private snapshotData: Uint8Array = EMPTY_BYTES;
  /** Writer calls run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Set by a failed write or fsync: the medium's state is unknown, so every later write refuses. */
  private failure: unknown = null;
  private closed = false;
  /** A hard state saved without mustSync, not yet written (see save). */
  private pendingHardState: HardState | null = null;

  protected constructor(image: LogImage) {
    this.image = image;
  }

  // ---- Storage (raft's reads) -------------------------------------------------------------------

  initialState(): InitialState {
    return { hardState: this.image.hardState, confState: this.image.snapshot.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.image.offset.index;
    if (lo <= offset) throw new RaftError('COMPACTED');
    if (hi > this.lastIndex() + 1)
      throw new RaftError('UNAVAILABLE', `hi ${hi} beyond last ${this.lastIndex()}`);
    if (this.image.entries.length === 0) throw new RaftError('UNAVAILABLE');
    return limitSize(this.image.entries.slice(lo - offset - 1, hi - offset - 1), maxBytes);
  }

  term(index: number): number {
    const offset = this.image.offset.index;
    if (index < offset) throw new RaftError('COMPACTED');
    if (index > this.lastIndex()) throw new RaftError('UNAVAILABLE');
    return index === offset ? this.image.offset.term : this.image.entries[index - offset - 1]!.term;
  }

  firstIndex(): number {
    return this.image.offset.index + 1;
  }

  lastIndex(): number {
    return this.image.offset.index + this.image.entries.length;
  }

  snapshot(): Snapshot {
    return { metadata: this.image.snapshot, data: this.snapshotData };
  }

  setSnapshotData(data: Uint8Array): void {
    this.snapshotData = data;
  }

  // ---- writer ---------------------------------------------------------------------------------------

  save(
    hardState: HardState | null,
    entries: readonly Entry[],
    snapshot: Snapshot | null,
    mustSync = true,
  ): Promise<void> {
    return this.exclusive(async () => {
      const plan = this.planSave(hardState, entries, snapshot);
      if (!mustSync && plan.install === null && plan.entries.length === 0) {
        // Only the commit index moved: losing it in a crash is harmless, so it rides along with
        // the next write instead of costing an fsync (and no unsynced bytes ever reach the disk).
        if (plan.hardState !== null) this.pendingHardState = plan.hardState;
        return;
      }
      const full: SavePlan = { ...plan, hardState: plan.hardState ?? this.pendingHardState };
      if (full.install === null && full.entries.length === 0 && full.hardState === null) return;
      await this.durably(() => this.writeSave(full));
      this.pendingHardState = null;
      if (full.install !== null) {
        installInImage(this.image, full.install);
        this.snapshotData = snapshot?.data ?? EMPTY_BYTES;
      }
      appendToImage(this.image, full.entries);
      if (full.hardState !== null) this.image.hardState = full.hardState;
      if (full.install !== null) await this.offsetMoved();
    });
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array = EMPTY_BYTES): Promise<Snapshot> {
    return this.exclusive(async () => {
      if (index <= this.image.snapshot.index) throw new RaftError('SNAPSHOT_OUT_OF_DATE');
      invariant(index <= this.lastIndex(), `snapshot ${index} beyond last index ${this.lastIndex()}`);
      const meta: SnapshotMetadata = { index, term: this.term(index), confState };
      // A deferred commit index goes first: after a restart the commit must not lag the snapshot.
      await this.flushPendingHardState();
      await this.durably(() => this.writeSnapshotMeta(meta));
      this.image.snapshot = meta;
      this.snapshotData = data;
      return { metadata: meta, data };
    });
  }

  compact(index: number): Promise<void> {
    return this.exclusive(async () => {
      if (index <= this.image.offset.index) throw new RaftError('COMPACTED');
      invariant(index <= this.lastIndex(), `compact ${index} beyond last index ${this.lastIndex()}`);
      const to: LogPosition = { index, term: this.term(index) };
      await this.flushPendingHardState();
      await this.durably(() => this.writeCompact(to));
      compactImage(this.image, to);
      await this.offsetMoved();
    });
  }

  private async flushPendingHardState(): Promise<void> {
    const pending = this.pendingHardState;
    if (pending === null) return;
    await this.durably(() => this.writeSave({ install: null, entries: [], hardState: pending }));
    this.image.hardState = pending;
    this.pendingHardState = null;
  }

  /** Writes a deferred hard state, then releases the medium. Closing twice is harmless. */
  close(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) return;
      this.closed = true;
      const pending = this.pendingHardState;
      try {
        if (pending !== null && this.failure === null)
          await this.durably(() => this.writeSave({ install: null, entries: [], hardState: pending }));
      } finally {
        await this.closeMedium();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Validates a save against MemoryStorage's rules (applySnapshot, then append) without changing anything. */
  private planSave(
    hardState: HardState | null,
    entries: readonly Entry[],
    snapshot: Snapshot | null,
  ): SavePlan {
    const install = snapshot === null ? null : snapshot.metadata;
    if (install !== null && this.image.snapshot.index >= install.index)
      throw new RaftError('SNAPSHOT_OUT_OF_DATE');
    for (let i = 1; i < entries.length; i++)
      invariant(
        entries[i]!.index === entries[0]!.index + i,
        `entries not contiguous at ${entries[i]!.index}`,
      );
    const offset = install === null ? this.image.offset.index : install.index;
    const last = install === null ? this.lastIndex() : install.index;
    let kept: readonly Entry[] = [];
    const head = entries[0];
    if (head !== undefined && head.index + entries.length - 1 > offset) {
      kept = head.index > offset ? entries : entries.slice(offset + 1 - head.index);
      invariant(kept[0]!.index <= last + 1, `missing log entry before ${kept[0]!.index}`);
    }
    return { install, entries: kept, hardState };
  }

  /** Runs writer calls one at a time; refuses them once closed or after a failed write. */
  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new WalError('CLOSED');
      if (this.failure !== null) throw new WalError('FAILED', undefined, { cause: this.failure });
      return op();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** A failed write or fsync leaves the medium in an unknown state (and fsync cannot be retried). */
  private async durably(io: () => Promise<void>): Promise<void> {
    try {
      await io();
    } catch (err) {
      // Size refusals are raised while encoding, before any byte is written.
      if (isWalError(err, 'RECORD_TOO_LARGE') || isWalError(err, 'BATCH_TOO_LARGE')) throw err;
      this.failure = err;
      throw new WalError('FAILED', err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  // ---- the medium -----------------------------------------------------------------------------------
  // Called with the image still as it was before the change, which is durable when they resolve.

  protected abstract writeSave(plan: SavePlan): Promise<void>;
  protected abstract writeSnapshotMeta(meta: SnapshotMetadata): Promise<void>;
  protected abstract writeCompact(to: LogPosition): Promise<void>;
  /** After a compaction or an installed snapshot moved the log's start: free what is no longer needed. */
  protected abstract offsetMoved(): Promise<void>;
  protected abstract closeMedium(): Promise<void>;
}
