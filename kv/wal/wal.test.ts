// Proves the WAL keeps MemoryStorage's semantics durably (shared conformance suite, with segments
// small enough to roll and be deleted all the time), names and deletes segments exactly, recovers
// from a torn last batch cut at any byte, and refuses every other damage with CORRUPT.

import { readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import t from 'tap';
import { crc32c } from './crc32c.js';
import { emptyImage } from './durable-log.js';
import { isWalError } from './errors.js';
import { openRaftLog } from './index.js';
import {
  encodeEntry,
  encodePayload,
  encodePosition,
  encodeSegmentState,
  frameBatch,
  RecordType,
  readBatch,
} from './record.js';
import {
  codeOf,
  cs3,
  ent,
  ids,
  observe,
  raftLogConformance,
  type Tap,
  tempDir,
} from './testing/conformance.js';
import { Wal, type WalOptions } from './wal.js';

const FILE = 'kv/wal/wal.test.ts';

function capture(): { logger: Logger; warnings: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { logger, warnings: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

const silent = pino({ level: 'silent' });

async function openWal(t: Tap, dir: string, options: WalOptions = {}): Promise<Wal> {
  const wal = await Wal.open(dir, { logger: silent, ...options });
  t.teardown(() => wal.close());
  return wal;
}

async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
}

/** Start offsets of every frame in a segment (batch headers and records), per batch. */
function frames(buf: Uint8Array): { start: number; end: number; frames: number[] }[] {
  const out: { start: number; end: number; frames: number[] }[] = [];
  for (let pos = 0; ; ) {
    const b = readBatch(buf, pos);
    if (b.kind !== 'batch') return out;
    out.push({ start: pos, end: b.end, frames: [pos, ...b.records.map((r) => r.offset)] });
    pos = b.end;
  }
}

async function openError(dir: string, options: WalOptions = {}): Promise<unknown> {
  return Wal.open(dir, { logger: silent, ...options }).then(
    async (w) => {
      await w.close();
      return null;
    },
    (err: unknown) => err,
  );
}

t.test('crc32c matches the RFC 3720 / iSCSI check values', async (t) => {
  t.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  const bytes = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 0xff);
  t.equal(crc32c(bytes, crc32c(bytes, 0, 0, 37), 37), crc32c(bytes), 'continues across pieces');
});

/** Segment sizes the model test cycles through: one batch per segment, a few, many. */
const MODEL_SEGMENT_BYTES = [1, 160, 600, 4096];

raftLogConformance(
  t,
  'Wal',
  (dir, variant) =>
    Wal.open(dir, {
      segmentBytes: MODEL_SEGMENT_BYTES[variant % MODEL_SEGMENT_BYTES.length]!,
      logger: silent,
    }),
  { file: FILE },
);
raftLogConformance(
  t,
  'Wal (preallocated)',
  (dir) => Wal.open(dir, { segmentBytes: 4096, preallocate: true, logger: silent }),
  { file: FILE, modelRuns: 20 },
);

t.test(
  'segments are named wal-<seq>-<firstIndex>.log and a new one starts when a batch would overflow',
  async (t) => {
    const dir = await tempDir(t);
    const wal = await openWal(t, dir, { segmentBytes: 1 });
    await wal.save(null, [ent(1, 1)], null);
    await wal.save(null, [ent(2, 1), ent(3, 1)], null);
    await wal.save({ term: 1, vote: 0, commit: 3 }, [ent(4, 1)], null);
    t.same(await segmentNames(dir), [
      'wal-0000000000000000-0000000000000001.log',
      'wal-0000000000000001-0000000000000002.log',
      'wal-0000000000000002-0000000000000004.log',
    ]);
    t.same(
      wal.segmentFiles().map((f) => f.slice(dir.length + 1)),
      await segmentNames(dir),
    );
  },
);

t.test('a segment holds batches until the next one would take it past segmentBytes', async (t) => {
  const dir = await tempDir(t);
  const wal = await openWal(t, dir, { segmentBytes: 1024 });
  for (let i = 1; i <= 40; i++) await wal.save(null, [ent(i, 1, new Array(40).fill(i))], null);
  const names = await segmentNames(dir);
  t.ok(names.length > 2, `${names.length} segments`);
  for (const n of names.slice(0, -1)) t.ok((await stat(join(dir, n))).size <= 1024, `${n} within 1024 bytes`);
  // Each name's first index is one past the last entry of the segments before it.
  const firsts = names.map((n) => Number.parseInt(n.slice(21, 37), 16));
  t.equal(firsts[0], 1);
  const again = await (async () => {
    await wal.close();
    return openWal(t, dir, { segmentBytes: 1024 });
  })();
  t.same(ids(again.entries(1, 41, 1e9)).length, 40);
  for (const f of firsts) t.equal(again.entries(f, f + 1, 0)[0]!.index, f);
});

t.test(
  'compaction deletes exactly the segments whose entries it covers, and replay resumes from the rest',
  async (t) => {
    const dir = await tempDir(t);
    let wal = await openWal(t, dir, { segmentBytes: 1 });
    await wal.save(null, [ent(1, 1)], null); // seg 0 (first 1)
    await wal.save(null, [ent(2, 1), ent(3, 1)], null); // seg 1 (first 2)
    await wal.save(null, [ent(4, 2)], null); // seg 2 (first 4)
    await wal.save({ term: 2, vote: 1, commit: 4 }, [ent(5, 2)], null); // seg 3 (first 5)
    await wal.compact(1); // written to seg 4 (first 6); seg 1 starts after 1: seg 0 goes
    t.same(await segmentNames(dir), [
      'wal-0000000000000001-0000000000000002.log',
      'wal-0000000000000002-0000000000000004.log',
      'wal-0000000000000003-0000000000000005.log',
      'wal-0000000000000004-0000000000000006.log',
    ]);
    await wal.compact(2); // written to seg 5; seg 2 starts after 3: nothing more can go
    t.same((await segmentNames(dir))[0], 'wal-0000000000000001-0000000000000002.log', 'seg 1 holds entry 3');
    t.equal((await segmentNames(dir)).length, 5);
    await wal.compact(4); // written to seg 6; seg 3 starts after 4: segs 1 and 2 go
    t.same(await segmentNames(dir), [
      'wal-0000000000000003-0000000000000005.log',
      'wal-0000000000000004-0000000000000006.log',
      'wal-0000000000000005-0000000000000006.log',
      'wal-0000000000000006-0000000000000006.log',
    ]);
    const before = observe(wal);
    await wal.close();
    wal = await openWal(t, dir, { segmentBytes: 1 });
    t.same(observe(wal), before);
    t.same(ids(wal.entries(5, 6, 100)), ['2/5']);
    t.equal(wal.term(4), 2);
    t.same(wal.initialState().hardState, { term: 2, vote: 1, commit: 4 });
  },
);

t.test('replay from a later segment handles a suffix replaced below that segment’s start', async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, { segmentBytes: 1, logger: silent });
  await wal.save(null, [ent(1, 1), ent(2, 1), ent(3, 1)], null); // seg 0
  await wal.save(null, [ent(4, 1), ent(5, 1)], null); // seg 1 (first 4)
  await wal.save(null, [ent(6, 1)], null); // seg 2 (first 6)
  await wal.close();
  // Larger segments from here on: the rest lands in seg 2.
  wal = await Wal.open(dir, { logger: silent });
  await wal.save(null, [ent(3, 2), ent(4, 2)], null); // replaces 3.. (below seg 2's start): 6 is gone
  await wal.save(null, [ent(5, 2)], null);
  await wal.compact(5); // seg 2 starts after 5: segs 0 and 1 go
  t.same(await segmentNames(dir), ['wal-0000000000000002-0000000000000006.log']);
  const before = observe(wal);
  await wal.close();
  wal = await openWal(t, dir);
  t.same(observe(wal), before);
  t.equal(wal.lastIndex(), 5, 'the replaced entry 6 does not come back');
  t.equal(wal.term(5), 2);
  t.equal(wal.firstIndex(), 6);
});

t.test('a crash midway through deleting segments leaves a suffix that replays exactly', async (t) => {
  const dir = await tempDir(t);
  let wal = await Wal.open(dir, { segmentBytes: 1, logger: silent });
  await wal.save(null, [ent(1, 1), ent(2, 1), ent(3, 1)], null); // seg 0
  await wal.compact(2); // seg 1 (first 4): header says the log starts after 0
  await wal.close();
  wal = await Wal.open(dir, { logger: silent });
  await wal.save(null, [ent(4, 1), ent(5, 1)], null); // seg 1
  await wal.save(null, [ent(3, 2), ent(4, 2)], null); // seg 1: replaces 3.., below its header's last index
  await wal.close();
  wal = await Wal.open(dir, { segmentBytes: 1, logger: silent });
  await wal.save(null, [ent(5, 2)], null); // seg 2 (first 5): header says the log starts after 2
  const seg1 = join(dir, 'wal-0000000000000001-0000000000000004.log');
  const seg1Bytes = await readFile(seg1);
  await wal.compact(4); // seg 3; segs 0 and 1 are deleted
  const before = observe(wal);
  await wal.close();
  t.same(await segmentNames(dir), [
    'wal-0000000000000002-0000000000000005.log',
    'wal-0000000000000003-0000000000000006.log',
  ]);
  // As if the process died after deleting seg 0 but before seg 1.
  await writeFile(seg1, seg1Bytes);
  wal = await openWal(t, dir, { segmentBytes: 1 });
  t.same(observe(wal), before);
  t.same(ids(wal.entries(5, 6, 100)), ['2/5']);
  t.same(
    await segmentNames(dir),
    ['wal-0000000000000002-0000000000000005.log', 'wal-0000000000000003-0000000000000006.log'],
    'open finishes the deletion',
  );
});

t.test('a record whose checksum holds but whose content is wrong is CORRUPT, even at the end', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'wal-0000000000000000-0000000000000001.log');
  const header = frameBatch([
    { type: RecordType.state, payload: encodeSegmentState({ ...emptyImage(), last: { index: 0, term: 0 } }) },
  ]);
  const one = frameBatch([{ type: RecordType.entry, payload: encodeEntry(ent(1, 1)) }]);
  const cases: [string, Buffer, string][] = [
    [
      'bad entry shape',
      frameBatch([{ type: RecordType.entry, payload: encodePayload({ term: 'x' }) }]),
      'entry.term: not a non-negative integer',
    ],
    [
      'compaction with the wrong term',
      frameBatch([{ type: RecordType.compact, payload: encodePosition({ index: 1, term: 7 }) }]),
      "term 7 at 1 disagrees with the log's 1",
    ],
    [
      'a gap',
      frameBatch([{ type: RecordType.entry, payload: encodeEntry(ent(3, 1)) }]),
      'entry 3 leaves a gap after 1',
    ],
    [
      'a state record inside a batch',
      frameBatch([{ type: RecordType.state, payload: encodePayload({}) }]),
      'record type 2 inside a batch',
    ],
  ];
  for (const [what, batch, reason] of cases) {
    await writeFile(file, Buffer.concat([header, one, batch]));
    const err = await openError(dir);
    t.ok(isWalError(err, 'CORRUPT'), what);
    t.match(String(err), `${file} at offset ${header.length + one.length + 17}: ${reason}`, what);
  }
});

t.test('a missing segment is CORRUPT, never skipped', async (t) => {
  const dir = await tempDir(t);
  const wal = await openWal(t, dir, { segmentBytes: 1 });
  for (let i = 1; i <= 4; i++) await wal.save(null, [ent(i, 1)], null);
  await wal.close();
  const names = await segmentNames(dir);
  await unlink(join(dir, names[0]!));
  const first = await openError(dir);
  t.ok(isWalError(first, 'CORRUPT'));
  t.match(String(first), `${join(dir, names[1]!)}: the segments before it are missing`);
  await unlink(join(dir, names[2]!));
  const middle = await openError(dir);
  t.ok(isWalError(middle, 'CORRUPT'));
  t.match(String(middle), `${join(dir, names[3]!)}: segment 2 is missing`);
});

/** A WAL whose last segment holds three batches; returns the file and the state before the last. */
async function threeBatches(t: Tap, options: WalOptions = {}) {
  const dir = await tempDir(t);
  const wal = await Wal.open(dir, { logger: silent, ...options });
  await wal.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1, [1]), ent(2, 1, [2, 2])], null);
  await wal.save({ term: 1, vote: 1, commit: 2 }, [ent(3, 1, [3])], null);
  const before = observe(wal);
  await wal.save({ term: 2, vote: 2, commit: 3 }, [ent(4, 2, [4, 4, 4, 4]), ent(5, 2, [5])], null);
  const after = observe(wal);
  await wal.close();
  const [name] = await segmentNames(dir);
  const file = join(dir, name!);
  const bytes = await readFile(file);
  const batches = frames(bytes);
  t.equal(batches.length, 4, 'header and three batches');
  return { dir, file, bytes, batches, before, after };
}

t.test(
  'a last batch cut at every byte offset: recovery keeps everything before it and nothing of it',
  async (t) => {
    const { dir, file, bytes, batches, before, after } = await threeBatches(t);
    const last = batches[3]!;
    t.equal(last.end, bytes.length);
    for (let cut = last.start; cut < last.end; cut++) {
      await writeFile(file, bytes.subarray(0, cut));
      const { logger, warnings } = capture();
      const wal = await Wal.open(dir, { logger });
      const got = observe(wal);
      if (JSON.stringify(got) !== JSON.stringify(before)) t.same(got, before, `cut at ${cut}`);
      t.same(warnings(), cut === last.start ? [] : ['wal: cutting off a torn batch at the end of the log']);
      t.equal((await stat(file)).size, last.start, `cut at ${cut}: file truncated to the last whole batch`);
      // The log goes on from there: the next save lands and survives a reopen.
      await wal.save({ term: 2, vote: 2, commit: 3 }, [ent(4, 2, [4, 4, 4, 4]), ent(5, 2, [5])], null);
      await wal.close();
      const again = await Wal.open(dir, { logger: silent });
      t.same(observe(again), after, `cut at ${cut}: rewritten batch survives`);
      await again.close();
    }
  },
);

t.test(
  'a last batch whose pages were lost (zeros, size kept) is torn too, preallocated or not',
  async (t) => {
    for (const preallocate of [false, true]) {
      const { dir, file, bytes, batches, before } = await threeBatches(t, {
        preallocate,
        segmentBytes: 8192,
      });
      const last = batches[3]!;
      t.equal(bytes.length, preallocate ? 8192 : last.end);
      for (let from = last.start; from < last.end; from++) {
        const damaged = Buffer.from(bytes);
        damaged.fill(0, from, last.end);
        await writeFile(file, damaged);
        const { logger, warnings } = capture();
        const wal = await Wal.open(dir, { logger, preallocate, segmentBytes: 8192 });
        const got = observe(wal);
        if (JSON.stringify(got) !== JSON.stringify(before)) t.same(got, before, `zeros from ${from}`);
        t.same(
          warnings(),
          from === last.start ? [] : ['wal: cutting off a torn batch at the end of the log'],
          `zeros from ${from}`,
        );
        await wal.close();
      }
    }
  },
);

t.test(
  'any flipped byte in a batch that is not the last is CORRUPT, naming file and frame offset',
  async (t) => {
    const { dir, file, bytes, batches } = await threeBatches(t);
    for (const b of [batches[1]!, batches[2]!]) {
      for (let at = b.start; at < b.end; at++) {
        const damaged = Buffer.from(bytes);
        damaged[at] = damaged[at]! ^ 0xff;
        await writeFile(file, damaged);
        const err = await openError(dir);
        const frame = b.frames.filter((f) => f <= at).pop()!;
        if (!isWalError(err, 'CORRUPT')) {
          t.fail(`flip at ${at}: ${String(err)}`);
          continue;
        }
        const want = `${file} at offset ${frame}: `;
        if (!err.message.includes(want)) t.fail(`flip at ${at}: ${err.message} lacks "${want}"`);
      }
    }
    t.pass('every flip refused');
    // The segment header is protected the same way.
    const damaged = Buffer.from(bytes);
    damaged[12] = damaged[12]! ^ 0x01;
    await writeFile(file, damaged);
    t.match(String(await openError(dir)), `${file} at offset 0: `);
  },
);

t.test(
  'a flipped byte in the last batch of the log cannot be told from a torn write: dropped with a warning',
  async (t) => {
    const { dir, file, bytes, batches, before } = await threeBatches(t);
    const damaged = Buffer.from(bytes);
    const at = batches[3]!.end - 2;
    damaged[at] = damaged[at]! ^ 0xff;
    await writeFile(file, damaged);
    const { logger, warnings } = capture();
    const wal = await openWal(t, dir, { logger });
    t.same(observe(wal), before);
    t.same(warnings(), ['wal: cutting off a torn batch at the end of the log']);
  },
);

t.test('damage in a segment that is not the last is CORRUPT even at its end', async (t) => {
  const dir = await tempDir(t);
  const wal = await openWal(t, dir, { segmentBytes: 1 });
  await wal.save(null, [ent(1, 1)], null);
  await wal.save(null, [ent(2, 1)], null);
  await wal.close();
  const [first] = await segmentNames(dir);
  const file = join(dir, first!);
  const bytes = await readFile(file);
  const lastBatch = frames(bytes)[1]!;
  await writeFile(file, bytes.subarray(0, bytes.length - 1));
  t.match(String(await openError(dir)), `${file} at offset ${lastBatch.start}: incomplete batch`);
  const zeroed = Buffer.from(bytes);
  zeroed.fill(0, lastBatch.start);
  await writeFile(file, zeroed);
  t.match(String(await openError(dir)), /segment starts after 1\/1, log ends at 0\/0/);
});

t.test('a segment whose header was never completed (crash while rolling) is removed', async (t) => {
  const dir = await tempDir(t);
  let wal = await openWal(t, dir, { segmentBytes: 1 });
  await wal.save(null, [ent(1, 1)], null);
  await wal.save(null, [ent(2, 1)], null);
  const before = observe(wal);
  await wal.close();
  for (const partial of [new Uint8Array(0), Uint8Array.of(30, 0, 0), new Uint8Array(40)]) {
    const orphan = join(dir, 'wal-0000000000000002-0000000000000003.log');
    await writeFile(orphan, partial);
    const { logger, warnings } = capture();
    wal = await Wal.open(dir, { logger, segmentBytes: 1 });
    t.same(observe(wal), before);
    t.same(warnings(), ['wal: removing a segment whose header was never completed']);
    t.same((await segmentNames(dir)).length, 2);
    await wal.close();
  }
  wal = await openWal(t, dir, { segmentBytes: 1 });
  await wal.save(null, [ent(3, 1)], null);
  t.same((await segmentNames(dir)).pop(), 'wal-0000000000000002-0000000000000003.log');
});

t.test('an incomplete segment that is the only one left, and not the first ever, is CORRUPT', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'wal-0000000000000003-0000000000000009.log'), new Uint8Array(10));
  const err = await openError(dir);
  t.ok(isWalError(err, 'CORRUPT'));
  t.match(String(err), 'wal-0000000000000003-0000000000000009.log at offset 0: ');
  const genesis = await tempDir(t);
  await writeFile(join(genesis, 'wal-0000000000000000-0000000000000001.log'), new Uint8Array(10));
  const fresh = await openWal(t, genesis);
  t.equal(fresh.lastIndex(), 0, 'a crash while creating the log: start afresh');
});

t.test(
  'preallocated segments are zero-filled to segmentBytes; the next is prepared aside and not left behind',
  async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'wal-spare.tmp'), Buffer.from('left by a crash midway'));
    let wal = await Wal.open(dir, { segmentBytes: 4096, preallocate: true, logger: silent });
    for (let i = 1; i <= 60; i++) await wal.save(null, [ent(i, 1, new Array(100).fill(i))], null);
    const names = await segmentNames(dir);
    t.ok(names.length >= 3, `${names.length} segments`);
    for (const n of names) t.equal((await stat(join(dir, n))).size, 4096, `${n} preallocated`);
    const before = observe(wal);
    await wal.close();
    t.notOk((await readdir(dir)).includes('wal-spare.tmp'), 'no spare after close');
    wal = await openWal(t, dir, { segmentBytes: 4096, preallocate: true });
    t.same(observe(wal), before);
  },
);

t.test('a failed write fails that call and every later one (fsync cannot be retried)', async (t) => {
  const dir = await tempDir(t);
  const wal = await openWal(t, dir);
  await wal.save(null, [ent(1, 1)], null);
  // Pull the file out from under the WAL: the next write gets EBADF.
  await (wal as unknown as { active: { fh: { close(): Promise<void> } } }).active.fh.close();
  t.equal(await codeOf(() => wal.save(null, [ent(2, 1)], null)), 'FAILED');
  t.equal(await codeOf(() => wal.compact(1)), 'FAILED');
  t.equal(wal.lastIndex(), 1, 'memory did not move past the disk');
});

t.test('createSnapshot below the first index is COMPACTED', async (t) => {
  const wal = await openWal(t, await tempDir(t));
  await wal.save(null, [ent(1, 1), ent(2, 1), ent(3, 1)], null);
  await wal.compact(2);
  t.equal(await codeOf(() => wal.createSnapshot(1, cs3)), 'COMPACTED');
  t.same((await wal.createSnapshot(2, cs3)).metadata, { index: 2, term: 1, confState: cs3 });
});

t.test('options are checked', async (t) => {
  t.equal(await codeOf(() => Wal.open('/nonexistent-never', { segmentBytes: 0 })), 'BAD_OPTION');
});

t.test('openRaftLog opens a WAL with preallocated segments', async (t) => {
  const dir = await tempDir(t);
  const log = await openRaftLog(dir, { segmentBytes: 8192, logger: silent });
  t.teardown(() => log.close());
  t.ok(log instanceof Wal);
  await log.save(null, [ent(1, 1)], null);
  const [name] = await segmentNames(dir);
  t.equal((await stat(join(dir, name!))).size, 8192);
});
