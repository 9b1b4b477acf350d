// Durable home of the state machine: every stored version, the lease table and the applied raft
// index in one LevelDB (classic-level). Each commit is ONE atomic batch holding an applied
// batch's changes together with its raft index, so after a crash the store is exactly the state
// after some applied index: replaying the raft log from the next index neither skips nor repeats.

import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { KvError } from './errors.js';
import { type CompactionCursor, INITIAL_REVISION, NEVER_COMPACTED, type StoreMutation } from './mvcc.js';
import { type StoredKv, storedKvFromTuple, storedKvToTuple } from './revision-log.js';

const REC_PREFIX = 0x72; // 'r'
const META_APPLIED = 'm:applied';
const META_CURRENT = 'm:current';
const META_COMPACTED = 'm:compacted';
const META_COMPACTING = 'm:compacting';
const META_LEASES = 'm:leases';
const META_ALARMS = 'm:alarms';
const META_MEMBERS = 'm:members';
const META_FORMAT = 'm:format';
/**
 * 2: revisions numbered as etcd's (an empty store is at revision 1, the first change is 2, and the
 * compact revision is -1 until the first compaction), numbers stored signed. 1 counted from 0.
 */
const FORMAT_VERSION = 2;

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface BackendState {
  readonly records: StoredKv[];
  readonly applied: number;
  readonly currentRevision: number;
  readonly compactRevision: number;
  /** The cleanup still to do after the last compaction (null: none). */
  readonly compaction: CompactionCursor | null;
  readonly leases: Uint8Array | null;
  /** The state machine's alarms, encoded by it (null: none ever stored). */
  readonly alarms: Uint8Array | null;
  /** The cluster membership's encoding (null: none ever stored). */
  readonly members: Uint8Array | null;
}

export interface BackendCommit {
  readonly mutations: readonly StoreMutation[];
  readonly applied: number;
  readonly currentRevision: number;
  readonly compactRevision: number;
  readonly compaction: CompactionCursor | null;
  /** The lease table's encoding, when it changed in this batch. */
  readonly leases?: Uint8Array;
  /** The alarms' encoding, when they changed in this batch. */
  readonly alarms?: Uint8Array;
  /** The membership's encoding, when it changed in this batch. */
  readonly members?: Uint8Array;
}

/** Record key: 'r' + main (8 bytes, big-endian) + sub (4 bytes): byte order = revision order. */
export function recordKey(main: number, sub: number): Uint8Array {
  const k = Buffer.alloc(13);
  k[0] = REC_PREFIX;
  k.writeBigUInt64BE(BigInt(main), 1);
  k.writeUInt32BE(sub, 9);
  return k;
}

function encodeRecord(r: StoredKv): Uint8Array {
  return packr.pack(storedKvToTuple(r));
}

function decodeRecord(bytes: Uint8Array): StoredKv {
  const rec = storedKvFromTuple(packr.unpack(bytes));
  if (rec === null) throw new KvError('CORRUPT', 'bad revision record');
  return rec;
}

function encodeNumber(n: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

function decodeNumber(b: Uint8Array | undefined): number {
  if (b === undefined) return 0;
  return Number(Buffer.from(b).readBigInt64BE(0));
}

export class LevelBackend {
  private readonly db: ClassicLevel<Uint8Array, Uint8Array>;
  readonly dir: string;

  private constructor(dir: string, db: ClassicLevel<Uint8Array, Uint8Array>) {
    this.dir = dir;
    this.db = db;
  }

  static async open(dir: string): Promise<LevelBackend> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const backend = new LevelBackend(dir, db);
    const format = await db.get(Buffer.from(META_FORMAT));
    if (format === undefined) {
      await db.put(Buffer.from(META_FORMAT), encodeNumber(FORMAT_VERSION));
    } else if (decodeNumber(format) !== FORMAT_VERSION) {
      await db.close();
      throw new KvError(
        'CORRUPT',
        `unsupported backend format ${decodeNumber(format)} in ${dir} (this version reads format ${FORMAT_VERSION} only; format 1 numbered revisions from 0)`,
      );
    }
    return backend;
  }

  /** Reads everything back, records in revision order. */
  async load(): Promise<BackendState> {
    const records: StoredKv[] = [];
    const lo = Buffer.from([REC_PREFIX]);
    const hi = Buffer.from([REC_PREFIX + 1]);
    for await (const value of this.db.values({ gte: lo, lt: hi })) records.push(decodeRecord(value));
    const [applied, current, compacted, compacting, leases, alarms, members] = await this.db.getMany([
      Buffer.from(META_APPLIED),
      Buffer.from(META_CURRENT),
      Buffer.from(META_COMPACTED),
      Buffer.from(META_COMPACTING),
      Buffer.from(META_LEASES),
      Buffer.from(META_ALARMS),
      Buffer.from(META_MEMBERS),
    ]);
    return {
      records,
      applied: decodeNumber(applied),
      // Nothing committed yet: a new store's revisions.
      currentRevision: current === undefined ? INITIAL_REVISION : decodeNumber(current),
      compactRevision: compacted === undefined ? NEVER_COMPACTED : decodeNumber(compacted),
      compaction: compacting === undefined ? null : (packr.unpack(compacting) as CompactionCursor),
      leases: leases === undefined ? null : new Uint8Array(leases),
      alarms: alarms === undefined ? null : new Uint8Array(alarms),
      members: members === undefined ? null : new Uint8Array(members),
    };
  }

  /**
   * One atomic batch: the changes and the raft index they bring the state to. Not fsync'd unless
   * `sync`: the raft log still holds every entry since the last synced commit, so a crash only
   * replays them; a caller about to discard raft log entries syncs first.
   */
  async commit(c: BackendCommit, options: { readonly sync?: boolean } = {}): Promise<void> {
    const batch = this.db.batch();
    for (const m of c.mutations) {
      if (m.op === 'put') batch.put(recordKey(m.record.modRevision, m.record.sub), encodeRecord(m.record));
      else batch.del(recordKey(m.rev.main, m.rev.sub));
    }
    batch.put(Buffer.from(META_APPLIED), encodeNumber(c.applied));
    batch.put(Buffer.from(META_CURRENT), encodeNumber(c.currentRevision));
    batch.put(Buffer.from(META_COMPACTED), encodeNumber(c.compactRevision));
    if (c.compaction === null) batch.del(Buffer.from(META_COMPACTING));
    else batch.put(Buffer.from(META_COMPACTING), packr.pack(c.compaction));
    if (c.leases !== undefined) batch.put(Buffer.from(META_LEASES), c.leases);
    if (c.alarms !== undefined) batch.put(Buffer.from(META_ALARMS), c.alarms);
    if (c.members !== undefined) batch.put(Buffer.from(META_MEMBERS), c.members);
    await batch.write({ sync: options.sync === true });
  }

  /** Replaces everything with a snapshot's state (a follower installing a snapshot). */
  async replace(state: BackendState): Promise<void> {
    await this.db.clear();
    await this.db.put(Buffer.from(META_FORMAT), encodeNumber(FORMAT_VERSION));
    const CHUNK = 10_000;
    for (let i = 0; i < state.records.length; i += CHUNK) {
      const batch = this.db.batch();
      for (const r of state.records.slice(i, i + CHUNK))
        batch.put(recordKey(r.modRevision, r.sub), encodeRecord(r));
      await batch.write();
    }
    await this.commit(
      {
        mutations: [],
        applied: state.applied,
        currentRevision: state.currentRevision,
        compactRevision: state.compactRevision,
        compaction: state.compaction,
        ...(state.leases === null ? {} : { leases: state.leases }),
        ...(state.alarms === null ? {} : { alarms: state.alarms }),
        ...(state.members === null ? {} : { members: state.members }),
      },
      { sync: true },
    );
  }

  /** Approximate bytes on disk of the live data. */
  async sizeBytes(): Promise<number> {
    return this.db.approximateSize(Buffer.from([0]), Buffer.from([0xff]));
  }

  /** Rewrites LevelDB's files for the whole key space, dropping deleted data (Defragment). */
  async defragment(): Promise<void> {
    await this.db.compactRange(Buffer.from([0]), Buffer.from([0xff]));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
