// Rebuilds the log image from segment records. Replay may start at any segment (older ones are
// deleted once compaction covers them): it is then "partial" — only entries above a floor index
// are known — until a compaction, snapshot install or segment header reaches that floor.

import type { Entry } from '../../raft/types.js';
import { appendToImage, compactImage, installInImage, type LogImage, lastPosition } from './durable-log.js';
import { WalError } from './errors.js';
import {
  decodeEntry,
  decodeHardState,
  decodePosition,
  decodeSnapshotMeta,
  type LogPosition,
  PayloadError,
  type RawRecord,
  RecordType,
  type SegmentState,
} from './record.js';

function corrupt(file: string, offset: number, reason: string): WalError {
  return new WalError('CORRUPT', `${file} at offset ${offset}: ${reason}`);
}

function samePosition(a: LogPosition, b: LogPosition): boolean {
  return a.index === b.index && a.term === b.term;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameState(image: LogImage, s: SegmentState): string | null {
  const hs = image.hardState;
  if (hs.term !== s.hardState.term || hs.vote !== s.hardState.vote || hs.commit !== s.hardState.commit)
    return 'hard state differs from the previous segments';
  const a = image.snapshot;
  const b = s.snapshot;
  if (
    a.index !== b.index ||
    a.term !== b.term ||
    a.confState.autoLeave !== b.confState.autoLeave ||
    !sameIds(a.confState.voters, b.confState.voters) ||
    !sameIds(a.confState.votersOutgoing, b.confState.votersOutgoing) ||
    !sameIds(a.confState.learners, b.confState.learners) ||
    !sameIds(a.confState.learnersNext, b.confState.learnersNext)
  )
    return 'snapshot metadata differs from the previous segments';
  return null;
}

export class Replayer {
  readonly image: LogImage;
  /**
   * False while replay started past the log's start and has not yet learned where the log begins:
   * then `image.offset` is a floor (entries above it are exact), and its term may be unknown.
   */
  private exact: boolean;
  private floorTermKnown = true;
  private readonly firstFile: string;

  /** Starts from the header of the oldest segment present. */
  constructor(first: SegmentState, file: string) {
    this.firstFile = file;
    this.exact = first.offset.index === first.last.index;
    this.image = {
      hardState: first.hardState,
      snapshot: first.snapshot,
      offset: this.exact ? first.offset : first.last,
      entries: [],
    };
  }

  /** Checks a later segment's header against what the previous segments built. */
  segmentStart(state: SegmentState, file: string, offset: number): void {
    const mismatch = sameState(this.image, state);
    if (mismatch !== null) throw corrupt(file, offset, mismatch);
    const floor = this.image.offset;
    const last = lastPosition(this.image);
    const lastTermKnown = this.exact || last.index > floor.index || this.floorTermKnown;
    if (last.index !== state.last.index || (lastTermKnown && last.term !== state.last.term))
      throw corrupt(
        file,
        offset,
        `segment starts after ${state.last.index}/${state.last.term}, log ends at ${last.index}/${last.term}`,
      );
    if (this.exact) {
      if (!samePosition(floor, state.offset))
        throw corrupt(
          file,
          offset,
          `segment header says the log starts after ${state.offset.index}, replay says ${floor.index}`,
        );
    } else if (state.offset.index >= floor.index) {
      this.reachFloor(state.offset, file, offset);
    }
  }

  apply(rec: RawRecord, file: string): void {
    try {
      this.applyRecord(rec, file);
    } catch (err) {
      if (err instanceof PayloadError) throw corrupt(file, rec.offset, err.message);
      throw err;
    }
  }

  private applyRecord(rec: RawRecord, file: string): void {
    const image = this.image;
    switch (rec.type) {
      case RecordType.entry: {
        const e = decodeEntry(rec.payload);
        this.applyEntry(e, file, rec.offset);
        return;
      }
      case RecordType.hardState:
        image.hardState = decodeHardState(rec.payload);
        return;
      case RecordType.snapshotCreated: {
        const meta = decodeSnapshotMeta(rec.payload);
        if (meta.index <= image.snapshot.index)
          throw corrupt(
            file,
            rec.offset,
            `snapshot ${meta.index} not after snapshot ${image.snapshot.index}`,
          );
        this.checkTerm({ index: meta.index, term: meta.term }, file, rec.offset);
        image.snapshot = meta;
        return;
      }
      case RecordType.snapshotInstalled: {
        const meta = decodeSnapshotMeta(rec.payload);
        if (meta.index <= image.snapshot.index)
          throw corrupt(
            file,
            rec.offset,
            `installed snapshot ${meta.index} not after ${image.snapshot.index}`,
          );
        installInImage(image, meta);
        this.exact = true;
        this.floorTermKnown = true;
        return;
      }
      case RecordType.compact: {
        const to = decodePosition(rec.payload);
        if (this.exact) {
          if (to.index <= image.offset.index)
            throw corrupt(file, rec.offset, `compaction to ${to.index} not after ${image.offset.index}`);
          this.checkTerm(to, file, rec.offset);
          compactImage(image, to);
        } else if (to.index >= image.offset.index) {
          this.reachFloor(to, file, rec.offset);
        }
        return;
      }
      case RecordType.state:
      case RecordType.batch:
        throw corrupt(file, rec.offset, `record type ${rec.type} inside a batch`);
    }
  }

  private applyEntry(e: Entry, file: string, offset: number): void {
    const image = this.image;
    const last = image.offset.index + image.entries.length;
    if (e.index > last + 1) throw corrupt(file, offset, `entry ${e.index} leaves a gap after ${last}`);
    if (e.index > image.offset.index) {
      appendToImage(image, [e]);
      return;
    }
    // The writer never writes entries at or below the log's start.
    if (this.exact)
      throw corrupt(file, offset, `entry ${e.index} at or below the log start ${image.offset.index}`);
    // Partial replay: an entry at or below the floor replaced everything after it in the full log,
    // so the floor drops to just before it (whose term is not known here).
    image.offset = { index: e.index - 1, term: 0 };
    image.entries = [e];
    this.floorTermKnown = false;
  }

  /** Partial replay learns where the log starts (at or above the floor): from here on it is exact. */
  private reachFloor(to: LogPosition, file: string, offset: number): void {
    const image = this.image;
    if (to.index > image.offset.index) {
      this.checkTerm(to, file, offset);
      compactImage(image, to);
    } else {
      image.offset = to;
    }
    this.exact = true;
    this.floorTermKnown = true;
  }

  /** The term recorded for a position must match the log's, where the log knows it. */
  private checkTerm(p: LogPosition, file: string, offset: number): void {
    const image = this.image;
    const last = image.offset.index + image.entries.length;
    if (p.index > last) throw corrupt(file, offset, `position ${p.index} beyond last index ${last}`);
    let term: number | null;
    if (p.index > image.offset.index) term = image.entries[p.index - image.offset.index - 1]!.term;
    else if (p.index === image.offset.index && (this.exact || this.floorTermKnown)) term = image.offset.term;
    else term = null;
    if (term !== null && term !== p.term)
      throw corrupt(file, offset, `term ${p.term} at ${p.index} disagrees with the log's ${term}`);
  }

  /** The replayed image; throws if replay never learned where the log starts. */
  finish(): LogImage {
    if (!this.exact)
      throw new WalError(
        'CORRUPT',
        `${this.firstFile}: the segments before it are missing (no compaction covers index ${this.image.offset.index})`,
      );
    return this.image;
  }
}
