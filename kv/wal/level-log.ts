// The raft log on LevelDB (classic-level): the alternative to the WAL, kept for comparison.
// One save is one LevelDB batch written with { sync: true } (LevelDB's own log + one fsync);
// entries are keyed by big-endian index so they sort in log order; the image mirrors the keys.

import { ClassicLevel } from 'classic-level';
import type { SnapshotMetadata } from '../../raft/types.js';
import { DurableLog, emptyImage, type LogImage, type SavePlan } from './durable-log.js';
import { WalError } from './errors.js';
import {
  decodeEntry,
  decodeHardState,
  decodePosition,
  decodeSnapshotMeta,
  encodeEntry,
  encodeHardState,
  encodePosition,
  encodeSnapshotMeta,
  type LogPosition,
  MAX_RECORD_BYTES,
  PayloadError,
} from './record.js';

type Db = ClassicLevel<Uint8Array, Uint8Array>;
type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

const KEY_HARD_STATE = Uint8Array.of(0, 0x68);
const KEY_SNAPSHOT = Uint8Array.of(0, 0x73);
/** The last discarded entry (index, term). */
const KEY_OFFSET = Uint8Array.of(0, 0x6f);
const ENTRY_PREFIX = 1;
const ENTRY_KEY_BYTES = 9;

function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(ENTRY_KEY_BYTES);
  key[0] = ENTRY_PREFIX;
  new DataView(key.buffer).setBigUint64(1, BigInt(index));
  return key;
}

function keyIndex(key: Uint8Array): number {
  return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(1));
}

function put(key: Uint8Array, value: Uint8Array): Op {
  if (value.length > MAX_RECORD_BYTES)
    throw new WalError('RECORD_TOO_LARGE', `${value.length} bytes > ${MAX_RECORD_BYTES}`);
  return { type: 'put', key, value };
}

/** Deletes of entries (from, to]. */
function deleteEntries(ops: Op[], from: number, to: number): void {
  for (let i = from + 1; i <= to; i++) ops.push({ type: 'del', key: entryKey(i) });
}

export class LevelLog extends DurableLog {
  private readonly db: Db;

  private constructor(db: Db, image: LogImage) {
    super(image);
    this.db = db;
  }

  static async open(dir: string): Promise<LevelLog> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await db.open();
    try {
      return new LevelLog(db, await load(db, dir));
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  protected override async writeSave(plan: SavePlan): Promise<void> {
    const ops: Op[] = [];
    let last = this.lastIndex();
    if (plan.install !== null) {
      deleteEntries(ops, this.image.offset.index, last);
      ops.push(put(KEY_SNAPSHOT, encodeSnapshotMeta(plan.install)));
      ops.push(put(KEY_OFFSET, encodePosition({ index: plan.install.index, term: plan.install.term })));
      last = plan.install.index;
    }
    const tail = plan.entries[plan.entries.length - 1];
    if (tail !== undefined) {
      for (const e of plan.entries) ops.push(put(entryKey(e.index), encodeEntry(e)));
      deleteEntries(ops, tail.index, last);
    }
    if (plan.hardState !== null) ops.push(put(KEY_HARD_STATE, encodeHardState(plan.hardState)));
    await this.db.batch(ops, { sync: true });
  }

  protected override async writeSnapshotMeta(meta: SnapshotMetadata): Promise<void> {
    await this.db.batch([put(KEY_SNAPSHOT, encodeSnapshotMeta(meta))], { sync: true });
  }

  protected override async writeCompact(to: LogPosition): Promise<void> {
    const ops: Op[] = [];
    deleteEntries(ops, this.image.offset.index, to.index);
    ops.push(put(KEY_OFFSET, encodePosition(to)));
    await this.db.batch(ops, { sync: true });
  }

  /** LevelDB reclaims the space of deleted keys by itself. */
  protected override async offsetMoved(): Promise<void> {}

  protected override async closeMedium(): Promise<void> {
    await this.db.close();
  }
}

async function load(db: Db, dir: string): Promise<LogImage> {
  const image = emptyImage();
  const what = (key: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      if (err instanceof PayloadError) throw new WalError('CORRUPT', `${dir}: key ${key}: ${err.message}`);
      throw err;
    }
  };
  const hs = await db.get(KEY_HARD_STATE);
  if (hs !== undefined) what('hardState', () => (image.hardState = decodeHardState(hs)));
  const snap = await db.get(KEY_SNAPSHOT);
  if (snap !== undefined) what('snapshot', () => (image.snapshot = decodeSnapshotMeta(snap)));
  const offset = await db.get(KEY_OFFSET);
  if (offset !== undefined) what('offset', () => (image.offset = decodePosition(offset)));
  for await (const [key, value] of db.iterator({
    gte: Uint8Array.of(ENTRY_PREFIX),
    lt: Uint8Array.of(ENTRY_PREFIX + 1),
  })) {
    const index = keyIndex(key);
    const expected = image.offset.index + image.entries.length + 1;
    if (key.length !== ENTRY_KEY_BYTES || index !== expected)
      throw new WalError('CORRUPT', `${dir}: entry key ${index}: expected entry ${expected}`);
    what(`entry ${index}`, () => {
      const e = decodeEntry(value);
      if (e.index !== index) throw new PayloadError(`holds entry ${e.index}`);
      image.entries.push(e);
    });
  }
  return image;
}
