// The raft log as a write-ahead log of append-only segment files (format: docs/kv.md, "Raft log (WAL)").
// One save is one batch: one write and one fdatasync, however many entries. Replay keeps every whole
// batch; a torn batch at the end of the last segment is cut off with a warning; other damage is CORRUPT.

import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import type { SnapshotMetadata } from '../../raft/types.js';
import { DurableLog, emptyImage, type LogImage, lastPosition, type SavePlan } from './durable-log.js';
import { WalError } from './errors.js';
import {
  decodeSegmentState,
  encodeEntry,
  encodeHardState,
  encodePosition,
  encodeSegmentState,
  encodeSnapshotMeta,
  frameBatch,
  type LogPosition,
  PayloadError,
  type RecordType,
  RecordType as RT,
  readBatch,
  type SegmentState,
} from './record.js';
import { Replayer } from './replay.js';
import { type SegmentName, segmentName, segmentsIn } from './segment.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Zeros are written in chunks of this size when preallocating a segment. */
const PREALLOCATE_CHUNK_BYTES = 1024 * 1024;
/** The zero-filled file prepared in the background to become the next segment (never replayed). */
const SPARE_NAME = 'wal-spare.tmp';

export interface WalOptions {
  /** A new segment is started when a batch would take the current one past this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /**
   * Segments are zero-filled up to `segmentBytes` before use (the next one in the background), so
   * appends overwrite allocated blocks and fdatasync need not commit a file-size change. Costs one
   * spare segment of disk. Default false.
   */
  readonly preallocate?: boolean;
  /** Receives recovery warnings (torn tails cut off, segments removed). Default: pino at warn on stderr. */
  readonly logger?: Logger;
}

interface Segment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly path: string;
}

interface ActiveSegment extends Segment {
  readonly fh: FileHandle;
  /** Where the next batch goes: the end of the valid data (preallocated zeros may follow). */
  writeOffset: number;
  /** End of the segment's header batch: a segment always takes one batch after it. */
  readonly headerEnd: number;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

function corrupt(file: string, offset: number, reason: string): WalError {
  return new WalError('CORRUPT', `${file} at offset ${offset}: ${reason}`);
}

export class Wal extends DurableLog {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly preallocate: boolean;
  private readonly logger: Logger;
  /** Every segment on disk, oldest first; the last one is `active`. */
  private readonly segments: Segment[];
  private active: ActiveSegment;
  /** The next segment's zero-filled file, being prepared (preallocate only). */
  private spare: Promise<string | null> | null = null;

  private constructor(
    dir: string,
    settings: { segmentBytes: number; preallocate: boolean; logger: Logger },
    segments: Segment[],
    active: ActiveSegment,
    image: LogImage,
  ) {
    super(image);
    this.dir = dir;
    this.segmentBytes = settings.segmentBytes;
    this.preallocate = settings.preallocate;
    this.logger = settings.logger;
    this.segments = segments;
    this.active = active;
  }

  /** Opens (creating if absent) the WAL in `dir`, replaying every segment. */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0)
      throw new WalError('BAD_OPTION', `segmentBytes ${segmentBytes}`);
    const settings = {
      segmentBytes,
      preallocate: options.preallocate ?? false,
      logger: options.logger ?? pino({ name: 'wal', level: 'warn' }, pino.destination(2)),
    };
    await mkdir(dir, { recursive: true });
    const names = segmentsIn(await readdir(dir));
    for (let i = 1; i < names.length; i++) {
      if (names[i]!.seq !== names[i - 1]!.seq + 1)
        throw new WalError(
          'CORRUPT',
          `${join(dir, names[i]!.name)}: segment ${names[i - 1]!.seq + 1} is missing`,
        );
    }
    // A spare left by a crash may be partly filled: start over.
    await rm(join(dir, SPARE_NAME), { force: true });
    const recovered = await recover(dir, names, settings.logger);
    const segments: Segment[] = recovered.segments.map((s) => ({
      seq: s.seq,
      firstIndex: s.firstIndex,
      path: join(dir, s.name),
    }));
    let image: LogImage;
    let active: ActiveSegment;
    const last = segments[segments.length - 1];
    if (recovered.replayer === null || last === undefined) {
      image = emptyImage();
      const spare = settings.preallocate ? await prepareSpare(dir, settings.segmentBytes) : null;
      active = await createSegment(dir, 0, image, spare);
      segments.push(active);
    } else {
      image = recovered.replayer.finish();
      const fh = await open(last.path, 'r+');
      try {
        if (recovered.truncateTo !== null) {
          await fh.truncate(recovered.truncateTo);
          await fh.datasync();
        }
      } catch (err) {
        await fh.close();
        throw err;
      }
      active = { ...last, fh, writeOffset: recovered.lastEnd, headerEnd: recovered.lastHeaderEnd };
    }
    const wal = new Wal(dir, settings, segments, active, image);
    // A crash may have come between a compaction and the deletion it allowed.
    await wal.releaseSegments();
    wal.startSpare();
    return wal;
  }

  /** The segment files in use, oldest first (for tests and operators). */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.path);
  }

  protected override async writeSave(plan: SavePlan): Promise<void> {
    const records: { type: RecordType; payload: Uint8Array }[] = [];
    if (plan.install !== null)
      records.push({ type: RT.snapshotInstalled, payload: encodeSnapshotMeta(plan.install) });
    for (const e of plan.entries) records.push({ type: RT.entry, payload: encodeEntry(e) });
    // Last, so a hard state never lands without the entries its commit index may point at.
    if (plan.hardState !== null)
      records.push({ type: RT.hardState, payload: encodeHardState(plan.hardState) });
    await this.append(frameBatch(records));
  }

  protected override async writeSnapshotMeta(meta: SnapshotMetadata): Promise<void> {
    await this.append(frameBatch([{ type: RT.snapshotCreated, payload: encodeSnapshotMeta(meta) }]));
  }

  protected override async writeCompact(to: LogPosition): Promise<void> {
    await this.append(frameBatch([{ type: RT.compact, payload: encodePosition(to) }]));
  }

  protected override offsetMoved(): Promise<void> {
    return this.releaseSegments();
  }

  protected override async closeMedium(): Promise<void> {
    const spare = await this.takeSpare();
    if (spare !== null) await rm(spare, { force: true });
    await this.active.fh.close();
  }

  /** One write and one fdatasync; the batch goes to a new segment if it would overflow this one. */
  private async append(batch: Buffer): Promise<void> {
    const a = this.active;
    if (a.writeOffset > a.headerEnd && a.writeOffset + batch.length > this.segmentBytes) await this.roll();
    const b = this.active;
    await writeAll(b.fh, batch, b.writeOffset);
    b.writeOffset += batch.length;
    await b.fh.datasync();
  }

  /** Starts the next segment, headed by the log's current state. The old one is already durable. */
  private async roll(): Promise<void> {
    const old = this.active;
    const next = await createSegment(this.dir, old.seq + 1, this.image, await this.takeSpare());
    this.segments.push(next);
    this.active = next;
    await old.fh.close();
    this.startSpare();
  }

  /** With preallocation: zero-fills the next segment while this one is in use. */
  private startSpare(): void {
    if (!this.preallocate) return;
    this.spare = prepareSpare(this.dir, this.segmentBytes).catch((err: unknown) => {
      this.logger.warn({ err }, 'wal: could not preallocate the next segment');
      return null;
    });
  }

  /** The spare once ready (waiting for it if needed), or null without preallocation. */
  private async takeSpare(): Promise<string | null> {
    const spare = this.spare;
    this.spare = null;
    return spare === null ? null : await spare;
  }

  /**
   * Deletes the oldest segments while the log's start (offset) is at or past the last index recorded
   * in the header of the segment that would become the oldest: replay from that segment then learns
   * where the log starts from a record it holds. Oldest first, so a crash midway leaves a valid suffix.
   */
  private async releaseSegments(): Promise<void> {
    const offset = this.image.offset.index;
    let keepFrom = 0;
    for (let k = this.segments.length - 1; k >= 1; k--) {
      if (offset >= this.segments[k]!.firstIndex - 1) {
        keepFrom = k;
        break;
      }
    }
    while (keepFrom > 0) {
      const s = this.segments[0]!;
      try {
        await unlink(s.path);
      } catch (err) {
        // A leftover segment costs disk space, not correctness: replay skips past it.
        this.logger.warn({ file: s.path, err }, 'wal: could not delete released segment');
        return;
      }
      this.segments.shift();
      keepFrom--;
    }
  }
}

/** Writes a zero-filled file of `segmentBytes` to become the next segment, durable before use. */
async function prepareSpare(dir: string, segmentBytes: number): Promise<string> {
  const path = join(dir, SPARE_NAME);
  const fh = await open(path, 'w');
  try {
    const zeros = Buffer.alloc(Math.min(PREALLOCATE_CHUNK_BYTES, segmentBytes));
    for (let at = 0; at < segmentBytes; at += zeros.length)
      await writeAll(fh, zeros.subarray(0, Math.min(zeros.length, segmentBytes - at)), at);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return path;
}

/**
 * Creates segment `seq` headed by the log's state (from the spare file if one is ready), durable —
 * file and directory entry — before any batch goes into it.
 */
async function createSegment(
  dir: string,
  seq: number,
  image: LogImage,
  spare: string | null,
): Promise<ActiveSegment> {
  const last = lastPosition(image);
  const state: SegmentState = {
    hardState: image.hardState,
    snapshot: image.snapshot,
    offset: image.offset,
    last,
  };
  const header = frameBatch([{ type: RT.state, payload: encodeSegmentState(state) }]);
  const path = join(dir, segmentName(seq, last.index + 1));
  // Until the header is durable the new name holds zeros or a torn header: replay removes it.
  if (spare !== null) await rename(spare, path);
  const fh = await open(path, spare === null ? 'wx' : 'r+');
  try {
    await writeAll(fh, header, 0);
    await fh.datasync();
    await fsyncDir(dir);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return { seq, firstIndex: last.index + 1, path, fh, writeOffset: header.length, headerEnd: header.length };
}

interface Recovery {
  readonly segments: SegmentName[];
  /** null when no segment with a complete header survives. */
  readonly replayer: Replayer | null;
  /** End of the valid data in the last segment, and of its header batch. */
  readonly lastEnd: number;
  readonly lastHeaderEnd: number;
  /** Set when the last segment ends in a torn batch to cut off. */
  readonly truncateTo: number | null;
}

/** Replays the segments in order; only the last may end in a torn batch. */
async function recover(dir: string, names: readonly SegmentName[], logger: Logger): Promise<Recovery> {
  const segments = names.slice();
  let replayer: Replayer | null = null;
  let lastEnd = 0;
  let lastHeaderEnd = 0;
  let truncateTo: number | null = null;
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    const file = join(dir, name.name);
    const isLast = k === names.length - 1;
    // lastEnd and lastHeaderEnd still describe segment k-1 here, which stays the active one if
    // segment k turns out to be a roll that never completed.
    const buf = await readFile(file);
    const head = readBatch(buf, 0);
    if (head.kind !== 'batch') {
      // A crash while the last segment was being started: the roll never happened. (Segments
      // before it are only deleted once a later one is complete, so it is never alone unless it
      // is the very first.)
      if (isLast && (head.kind === 'end' || head.torn) && (k > 0 || name.seq === 0)) {
        logger.warn({ file }, 'wal: removing a segment whose header was never completed');
        await unlink(file);
        await fsyncDir(dir);
        segments.pop();
        break;
      }
      throw corrupt(
        file,
        head.kind === 'bad' ? head.offset : 0,
        head.kind === 'bad' ? head.reason : 'empty segment',
      );
    }
    const rec = head.records[0];
    if (head.records.length !== 1 || rec === undefined || rec.type !== RT.state)
      throw corrupt(file, 0, 'segment does not start with a state record');
    let state: SegmentState;
    try {
      state = decodeSegmentState(rec.payload);
    } catch (err) {
      if (err instanceof PayloadError) throw corrupt(file, rec.offset, err.message);
      throw err;
    }
    if (state.last.index + 1 !== name.firstIndex)
      throw corrupt(file, 0, `header says first index ${state.last.index + 1}, name says ${name.firstIndex}`);
    if (replayer === null) replayer = new Replayer(state, file);
    else replayer.segmentStart(state, file, 0);
    let pos = head.end;
    lastHeaderEnd = head.end;
    truncateTo = null;
    for (;;) {
      const b = readBatch(buf, pos);
      if (b.kind === 'end') break;
      if (b.kind === 'bad') {
        if (!(isLast && b.torn)) throw corrupt(file, b.offset, b.reason);
        logger.warn(
          { file, offset: pos, reason: b.reason, droppedBytes: buf.length - pos },
          'wal: cutting off a torn batch at the end of the log',
        );
        truncateTo = pos;
        break;
      }
      for (const r of b.records) replayer.apply(r, file);
      pos = b.end;
    }
    lastEnd = pos;
  }
  return { segments, replayer: segments.length === 0 ? null : replayer, lastEnd, lastHeaderEnd, truncateTo };
}
