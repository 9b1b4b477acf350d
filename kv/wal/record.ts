// WAL record framing and payload codecs. A frame is [length u32][crc32c u32][type u8][payload]
// (little endian; the CRC covers length, type and payload). Records are grouped in batches: a
// batch header frame (count, size) followed by `count` frames, so replay keeps or drops a save whole.

import { Packr } from 'msgpackr';
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../../raft/types.js';
import { crc32c } from './crc32c.js';
import { WalError } from './errors.js';

/** Bytes before a frame's payload: length, crc, type. */
export const FRAME_HEADER_BYTES = 9;
/** A single record's payload may not exceed this (etcd requests are ≤ 1.5 MiB; this is a sanity bound). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** One save is written with one write(); bounds the buffer built for it. */
export const MAX_BATCH_BYTES = 256 * 1024 * 1024;
/** Payload of a batch header: record count u32, byte size of the records u32. */
const BATCH_PAYLOAD_BYTES = 8;
export const BATCH_HEADER_BYTES = FRAME_HEADER_BYTES + BATCH_PAYLOAD_BYTES;

export const RecordType = {
  batch: 1,
  /** First batch of every segment: the log's state when the segment was started. */
  state: 2,
  entry: 3,
  hardState: 4,
  /** A snapshot taken locally: metadata only, the log is kept. */
  snapshotCreated: 5,
  /** A snapshot received from the leader: the log is replaced by it. */
  snapshotInstalled: 6,
  compact: 7,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const RECORD_TYPES: ReadonlySet<number> = new Set(Object.values(RecordType));

/** The index and term of one log position. */
export interface LogPosition {
  readonly index: number;
  readonly term: number;
}

/** A segment's first record: enough to replay the segment without the ones before it. */
export interface SegmentState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMetadata;
  /** The last discarded entry (compaction point or installed snapshot). */
  readonly offset: LogPosition;
  /** The last entry in the log when the segment was started. */
  readonly last: LogPosition;
}

export interface RawRecord {
  readonly type: RecordType;
  readonly payload: Uint8Array;
  /** Byte offset of the record's frame in its file. */
  readonly offset: number;
}

// Plain maps, no shared structures: every record decodes on its own. Binary data is copied out of
// the segment buffer on decode so a retained entry does not pin a whole segment in memory.
const packr = new Packr({ useRecords: false, copyBuffers: true, mapsAsObjects: true });

export function encodePayload(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Builds one batch: header frame plus one frame per record, as a single buffer for one write. */
export function frameBatch(records: readonly { type: RecordType; payload: Uint8Array }[]): Buffer {
  let size = 0;
  for (const r of records) {
    if (r.payload.length > MAX_RECORD_BYTES)
      throw new WalError('RECORD_TOO_LARGE', `${r.payload.length} bytes > ${MAX_RECORD_BYTES}`);
    size += FRAME_HEADER_BYTES + r.payload.length;
  }
  if (BATCH_HEADER_BYTES + size > MAX_BATCH_BYTES)
    throw new WalError('BATCH_TOO_LARGE', `${BATCH_HEADER_BYTES + size} bytes > ${MAX_BATCH_BYTES}`);
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + size);
  const header = Buffer.allocUnsafe(BATCH_PAYLOAD_BYTES);
  header.writeUInt32LE(records.length, 0);
  header.writeUInt32LE(size, 4);
  let pos = writeFrame(buf, 0, RecordType.batch, header);
  for (const r of records) pos = writeFrame(buf, pos, r.type, r.payload);
  return buf;
}

function writeFrame(buf: Buffer, pos: number, type: RecordType, payload: Uint8Array): number {
  buf.writeUInt32LE(payload.length, pos);
  buf[pos + 8] = type;
  buf.set(payload, pos + FRAME_HEADER_BYTES);
  const end = pos + FRAME_HEADER_BYTES + payload.length;
  buf.writeUInt32LE(frameCrc(buf, pos, end), pos + 4);
  return end;
}

function frameCrc(buf: Uint8Array, pos: number, end: number): number {
  return crc32c(buf, crc32c(buf, 0, pos, pos + 4), pos + 8, end);
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

export type BatchRead =
  | { readonly kind: 'batch'; readonly records: readonly RawRecord[]; readonly end: number }
  /** No batch here: the end of the buffer, or only zeros (preallocated space) up to it. */
  | { readonly kind: 'end' }
  /**
   * A batch that cannot be read. `torn` says whether the damage is what an interrupted last write
   * leaves behind (a prefix of the batch, or zeros where pages of it were never written) with
   * nothing after it; otherwise it is corruption.
   */
  | { readonly kind: 'bad'; readonly offset: number; readonly reason: string; readonly torn: boolean };

/** Reads the batch starting at `pos`. Never throws. */
export function readBatch(buf: Uint8Array, pos: number): BatchRead {
  if (pos >= buf.length || allZero(buf, pos)) return { kind: 'end' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // A write interrupted inside the batch header leaves fewer bytes than a header.
  if (buf.length - pos < BATCH_HEADER_BYTES)
    return { kind: 'bad', offset: pos, reason: 'incomplete batch header', torn: true };
  const length = view.getUint32(pos, true);
  const type = buf[pos + 8];
  const headerOk =
    length === BATCH_PAYLOAD_BYTES &&
    type === RecordType.batch &&
    view.getUint32(pos + 4, true) === frameCrc(buf, pos, pos + BATCH_HEADER_BYTES);
  if (!headerOk)
    return {
      kind: 'bad',
      offset: pos,
      reason: 'bad batch header',
      torn: allZero(buf, pos + BATCH_HEADER_BYTES),
    };
  const count = view.getUint32(pos + FRAME_HEADER_BYTES, true);
  const size = view.getUint32(pos + FRAME_HEADER_BYTES + 4, true);
  const end = pos + BATCH_HEADER_BYTES + size;
  // The header is checksummed, so a batch running past the end is a prefix of a write.
  if (end > buf.length) return { kind: 'bad', offset: pos, reason: 'incomplete batch', torn: true };
  const tornInside = allZero(buf, end);
  const records: RawRecord[] = [];
  let at = pos + BATCH_HEADER_BYTES;
  for (let n = 0; n < count; n++) {
    if (end - at < FRAME_HEADER_BYTES)
      return { kind: 'bad', offset: at, reason: 'record header past batch end', torn: tornInside };
    const len = view.getUint32(at, true);
    const recordEnd = at + FRAME_HEADER_BYTES + len;
    if (len > MAX_RECORD_BYTES || recordEnd > end)
      return { kind: 'bad', offset: at, reason: `bad record length ${len}`, torn: tornInside };
    if (view.getUint32(at + 4, true) !== frameCrc(buf, at, recordEnd))
      return { kind: 'bad', offset: at, reason: 'crc mismatch', torn: tornInside };
    const rtype = buf[at + 8]!;
    if (!RECORD_TYPES.has(rtype) || rtype === RecordType.batch)
      return { kind: 'bad', offset: at, reason: `unknown record type ${rtype}`, torn: false };
    records.push({
      type: rtype as RecordType,
      payload: buf.subarray(at + FRAME_HEADER_BYTES, recordEnd),
      offset: at,
    });
    at = recordEnd;
  }
  if (at !== end) return { kind: 'bad', offset: at, reason: 'batch size mismatch', torn: tornInside };
  return { kind: 'batch', records, end };
}

// ---- payloads ---------------------------------------------------------------------------------

export function encodeEntry(e: Entry): Uint8Array {
  return packr.pack({ term: e.term, index: e.index, type: e.type, data: e.data });
}

export function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack({ term: hs.term, vote: hs.vote, commit: hs.commit });
}

export function encodeSnapshotMeta(m: SnapshotMetadata): Uint8Array {
  return packr.pack(snapshotMetaValue(m));
}

export function encodePosition(p: LogPosition): Uint8Array {
  return packr.pack({ index: p.index, term: p.term });
}

export function encodeSegmentState(s: SegmentState): Uint8Array {
  return packr.pack({
    hardState: { term: s.hardState.term, vote: s.hardState.vote, commit: s.hardState.commit },
    snapshot: snapshotMetaValue(s.snapshot),
    offset: { index: s.offset.index, term: s.offset.term },
    last: { index: s.last.index, term: s.last.term },
  });
}

function snapshotMetaValue(m: SnapshotMetadata): object {
  const cs = m.confState;
  return {
    index: m.index,
    term: m.term,
    confState: {
      voters: [...cs.voters],
      votersOutgoing: [...cs.votersOutgoing],
      learners: [...cs.learners],
      learnersNext: [...cs.learnersNext],
      autoLeave: cs.autoLeave,
    },
  };
}

/** A payload whose checksum holds but whose shape is wrong: a bug or a foreign file, never torn. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

function unpack(payload: Uint8Array): unknown {
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new PayloadError(`undecodable payload: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PayloadError(`${what}: not a map`);
  return value as Record<string, unknown>;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new PayloadError(`${what}: not a non-negative integer`);
  return value;
}

function counts(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new PayloadError(`${what}: not an array`);
  return value.map((v: unknown) => count(v, what));
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PayloadError(`${what}: not bytes`);
  // A plain Uint8Array (msgpackr hands out Buffers), so entries compare equal whatever their source.
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function entryType(value: unknown): EntryType {
  if (value !== 'normal' && value !== 'confChange') throw new PayloadError('entry.type: unknown');
  return value;
}

export function decodeEntry(payload: Uint8Array): Entry {
  const v = record(unpack(payload), 'entry');
  return {
    term: count(v.term, 'entry.term'),
    index: count(v.index, 'entry.index'),
    type: entryType(v.type),
    data: bytes(v.data, 'entry.data'),
  };
}

export function decodeHardState(payload: Uint8Array): HardState {
  return hardStateValue(unpack(payload));
}

function hardStateValue(value: unknown): HardState {
  const v = record(value, 'hardState');
  return {
    term: count(v.term, 'hardState.term'),
    vote: count(v.vote, 'hardState.vote'),
    commit: count(v.commit, 'hardState.commit'),
  };
}

export function decodeSnapshotMeta(payload: Uint8Array): SnapshotMetadata {
  return snapshotMetaOf(unpack(payload));
}

function snapshotMetaOf(value: unknown): SnapshotMetadata {
  const v = record(value, 'snapshot');
  const cs = record(v.confState, 'snapshot.confState');
  if (typeof cs.autoLeave !== 'boolean') throw new PayloadError('confState.autoLeave: not a boolean');
  const confState: ConfState = {
    voters: counts(cs.voters, 'confState.voters'),
    votersOutgoing: counts(cs.votersOutgoing, 'confState.votersOutgoing'),
    learners: counts(cs.learners, 'confState.learners'),
    learnersNext: counts(cs.learnersNext, 'confState.learnersNext'),
    autoLeave: cs.autoLeave,
  };
  return { index: count(v.index, 'snapshot.index'), term: count(v.term, 'snapshot.term'), confState };
}

export function decodePosition(payload: Uint8Array): LogPosition {
  return positionOf(unpack(payload), 'position');
}

function positionOf(value: unknown, what: string): LogPosition {
  const v = record(value, what);
  return { index: count(v.index, `${what}.index`), term: count(v.term, `${what}.term`) };
}

export function decodeSegmentState(payload: Uint8Array): SegmentState {
  const v = record(unpack(payload), 'state');
  return {
    hardState: hardStateValue(v.hardState),
    snapshot: snapshotMetaOf(v.snapshot),
    offset: positionOf(v.offset, 'state.offset'),
    last: positionOf(v.last, 'state.last'),
  };
}
