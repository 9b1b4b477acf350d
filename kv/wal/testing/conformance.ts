// Behaviour every durable raft log must share (Wal and LevelLog both run it): MemoryStorage's
// exact read and write semantics, durability across reopen, one-at-a-time writer calls, and a
// fast-check model test against MemoryStorage with reopens, replaying a crash image after every step.

import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type tap from 'tap';
import { RaftError } from '../../../raft/errors.js';
import { MemoryStorage, type Storage } from '../../../raft/storage.js';
import {
  type ConfState,
  type Entry,
  type EntryType,
  emptyConfState,
  type HardState,
  type Snapshot,
  type SnapshotMetadata,
} from '../../../raft/types.js';
import { asyncPropertyChecker } from '../../../test/property.js';
import type { RaftLog } from '../durable-log.js';
import { WalError } from '../errors.js';

export type Tap = Parameters<Parameters<typeof tap.test>[0]>[0];
/**
 * Opens the log in `dir`. `variant` (0 outside the model test, drawn by it otherwise) lets an
 * implementation vary its settings (segment sizes) from run to run, reproducibly.
 */
export type Opener = (dir: string, variant: number) => Promise<RaftLog>;

export const cs3: ConfState = { ...emptyConfState(), voters: [1, 2, 3] };

export function ent(
  index: number,
  term: number,
  data: readonly number[] = [],
  type: EntryType = 'normal',
): Entry {
  return { index, term, type, data: Uint8Array.from(data) };
}

export function snap(index: number, term: number, confState: ConfState = cs3): Snapshot {
  return { metadata: { index, term, confState }, data: Uint8Array.of(index) };
}

/** Entries as "term/index" strings. */
export function ids(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.term}/${e.index}`);
}

/** The error code a call fails with ('ok' when it does not). */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof RaftError || err instanceof WalError) return err.code;
    throw err;
  }
}

/** A fresh temporary directory, removed when the test ends. */
export async function tempDir(t: Tap, prefix = 'netcd-wal-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Everything observable through Storage, as plain data for exact comparison. */
export interface Observed {
  readonly first: number;
  readonly last: number;
  readonly offsetTerm: number;
  readonly entries: readonly { index: number; term: number; type: string; data: number[] }[];
  readonly hardState: HardState;
  readonly confState: ConfState;
  readonly snapshot: SnapshotMetadata;
}

export function observe(s: Storage): Observed {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const entries =
    last >= first
      ? s
          .entries(first, last + 1, Number.POSITIVE_INFINITY)
          .map((e) => ({ index: e.index, term: e.term, type: e.type, data: Array.from(e.data) }))
      : [];
  const { hardState, confState } = s.initialState();
  return {
    first,
    last,
    offsetTerm: s.term(first - 1),
    entries,
    hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    confState,
    snapshot: s.snapshot().metadata,
  };
}

const FILE_HINT = 'kv/wal/*.test.ts';

export function raftLogConformance(
  t: Tap,
  name: string,
  open: Opener,
  options: { file?: string; modelRuns?: number } = {},
): void {
  const file = options.file ?? FILE_HINT;
  const checkProperty = asyncPropertyChecker(file);

  /** Opens a log in a fresh directory; closed when the test ends unless the test closed it. */
  async function fresh(t: Tap): Promise<{ dir: string; log: RaftLog }> {
    const dir = await tempDir(t);
    const log = await open(dir, 0);
    t.teardown(() => log.close());
    return { dir, log };
  }

  async function reopen(t: Tap, dir: string, log: RaftLog): Promise<RaftLog> {
    await log.close();
    const again = await open(dir, 0);
    t.teardown(() => again.close());
    return again;
  }

  t.test(`${name}: a fresh log is empty: first 1, last 0, term(0) = 0, term(1) UNAVAILABLE`, async (t) => {
    const { log } = await fresh(t);
    t.equal(log.firstIndex(), 1);
    t.equal(log.lastIndex(), 0);
    t.equal(log.term(0), 0);
    t.equal(await codeOf(() => log.term(1)), 'UNAVAILABLE');
    t.equal(await codeOf(() => log.entries(1, 1, 100)), 'UNAVAILABLE');
    t.same(log.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: emptyConfState() });
  });

  t.test(`${name}: entries, hard state and snapshot metadata survive a reopen exactly`, async (t) => {
    const { dir, log } = await fresh(t);
    await log.save(
      { term: 2, vote: 3, commit: 1 },
      [ent(1, 1, [1, 2, 3]), ent(2, 2, [], 'confChange')],
      null,
    );
    await log.save(null, [ent(3, 2, [255, 0, 7])], null);
    await log.createSnapshot(2, cs3, Uint8Array.of(9));
    t.same(log.snapshot().data, Uint8Array.of(9), 'data given to createSnapshot is served until restart');
    const again = await reopen(t, dir, log);
    t.same(ids(again.entries(1, 4, 1000)), ['1/1', '2/2', '2/3']);
    const [e1, e2, e3] = again.entries(1, 4, 1000);
    t.same(Array.from(e1!.data), [1, 2, 3]);
    t.equal(e2!.type, 'confChange');
    t.same(Array.from(e2!.data), []);
    t.same(Array.from(e3!.data), [255, 0, 7]);
    t.same(again.initialState(), { hardState: { term: 2, vote: 3, commit: 1 }, confState: cs3 });
    t.same(again.snapshot().metadata, { index: 2, term: 2, confState: cs3 });
    t.same(
      again.snapshot().data,
      new Uint8Array(0),
      'snapshot data is the state machine’s: empty after restart',
    );
    again.setSnapshotData(Uint8Array.of(4));
    t.same(again.snapshot().data, Uint8Array.of(4));
  });

  t.test(`${name}: entries replacing a suffix truncate what followed, also after reopen`, async (t) => {
    const { dir, log } = await fresh(t);
    await log.save(null, [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)], null);
    await log.save(null, [ent(3, 2), ent(4, 2)], null);
    t.same(ids(log.entries(1, 5, 1000)), ['1/1', '1/2', '2/3', '2/4']);
    t.equal(log.lastIndex(), 4);
    await log.save(null, [ent(5, 3)], null);
    const again = await reopen(t, dir, log);
    t.same(ids(again.entries(1, 6, 1000)), ['1/1', '1/2', '2/3', '2/4', '3/5']);
  });

  t.test(
    `${name}: term() and entries() fail like MemoryStorage (COMPACTED below, UNAVAILABLE above)`,
    async (t) => {
      const { dir, log } = await fresh(t);
      // etcd's storage_test fixture: a snapshot at 3/3, then entries 4/4 and 5/5.
      await log.save(null, [ent(4, 4), ent(5, 5, [1, 2, 3, 4, 5, 6, 7, 8])], snap(3, 3));
      for (const s of [log, await reopen(t, dir, log)]) {
        t.equal(await codeOf(() => s.term(2)), 'COMPACTED');
        t.equal(s.term(3), 3);
        t.equal(s.term(5), 5);
        t.equal(await codeOf(() => s.term(6)), 'UNAVAILABLE');
        t.equal(await codeOf(() => s.entries(3, 5, 1000)), 'COMPACTED');
        t.equal(await codeOf(() => s.entries(4, 7, 1000)), 'UNAVAILABLE');
        t.same(ids(s.entries(4, 6, 1000)), ['4/4', '5/5']);
        t.same(ids(s.entries(4, 6, 0)), ['4/4'], 'at least one entry whatever maxBytes');
        t.same(ids(s.entries(4, 6, 24 + 31)), ['4/4'], 'byte limit as limitSize');
        t.same(ids(s.entries(4, 6, 24 + 32)), ['4/4', '5/5']);
        t.equal(s.firstIndex(), 4);
        t.same(s.snapshot().metadata, { index: 3, term: 3, confState: cs3 });
      }
    },
  );

  t.test(`${name}: writer calls refuse like MemoryStorage and then change nothing`, async (t) => {
    const { dir, log } = await fresh(t);
    await log.save(null, [ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)], null);
    await log.compact(2);
    await log.createSnapshot(3, cs3);
    t.equal(await codeOf(() => log.compact(2)), 'COMPACTED');
    t.equal(await codeOf(() => log.compact(5)), 'INVARIANT');
    t.equal(await codeOf(() => log.createSnapshot(3, cs3)), 'SNAPSHOT_OUT_OF_DATE');
    t.equal(await codeOf(() => log.createSnapshot(9, cs3)), 'INVARIANT');
    t.equal(await codeOf(() => log.save(null, [ent(4, 3)], snap(3, 2))), 'SNAPSHOT_OUT_OF_DATE');
    t.equal(await codeOf(() => log.save(null, [ent(7, 3)], null)), 'INVARIANT', 'a gap is refused');
    t.equal(await codeOf(() => log.save(null, [ent(5, 3), ent(7, 3)], null)), 'INVARIANT', 'not contiguous');
    t.equal(log.firstIndex(), 3);
    t.equal(log.lastIndex(), 4);
    const before = observe(log);
    t.same(observe(await reopen(t, dir, log)), before);
  });

  t.test(`${name}: entries below the first index are dropped, the rest appended`, async (t) => {
    const { log } = await fresh(t);
    await log.save(null, [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)], null);
    await log.compact(3);
    await log.save(null, [ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 2)], null);
    t.same(ids(log.entries(4, 6, 1000)), ['2/4', '2/5']);
    t.equal(log.term(3), 1);
    await log.save(null, [ent(1, 1), ent(2, 1)], null);
    t.equal(log.lastIndex(), 5, 'entirely below the first index: nothing happens');
  });

  t.test(`${name}: an installed snapshot replaces the log`, async (t) => {
    const { dir, log } = await fresh(t);
    await log.save({ term: 1, vote: 1, commit: 3 }, [ent(1, 1), ent(2, 1), ent(3, 1)], null);
    await log.save({ term: 4, vote: 0, commit: 10 }, [ent(11, 4)], snap(10, 3));
    t.equal(log.firstIndex(), 11);
    t.equal(log.term(10), 3);
    t.same(log.snapshot().data, Uint8Array.of(10), 'the received snapshot’s data is served');
    const again = await reopen(t, dir, log);
    t.same(ids(again.entries(11, 12, 1000)), ['4/11']);
    t.same(again.initialState().hardState, { term: 4, vote: 0, commit: 10 });
    t.same(again.snapshot().metadata, snap(10, 3).metadata);
  });

  t.test(`${name}: writer calls run one at a time in call order`, async (t) => {
    const { log } = await fresh(t);
    const calls = [
      log.save(null, [ent(1, 1), ent(2, 1), ent(3, 1)], null),
      log.compact(2),
      log.save({ term: 1, vote: 0, commit: 3 }, [ent(4, 1)], null),
      log.compact(1),
    ];
    const results = await Promise.allSettled(calls);
    t.same(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    t.equal(log.firstIndex(), 3);
    t.equal(log.lastIndex(), 4);
  });

  t.test(
    `${name}: a hard state saved without mustSync is written with the next write or on close`,
    async (t) => {
      const { dir, log } = await fresh(t);
      await log.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1)], null);
      await log.save({ term: 1, vote: 1, commit: 1 }, [], null, false);
      t.same(log.initialState().hardState, { term: 1, vote: 1, commit: 0 }, 'not durable yet, not reported');
      const again = await reopen(t, dir, log);
      t.same(again.initialState().hardState, { term: 1, vote: 1, commit: 1 });
      await again.save({ term: 1, vote: 1, commit: 1 }, [], null, false);
      await again.save(null, [ent(2, 1)], null);
      t.same(
        again.initialState().hardState,
        { term: 1, vote: 1, commit: 1 },
        'carried by the entries’ write',
      );
    },
  );

  t.test(
    `${name}: a record over 64 MiB is refused with RECORD_TOO_LARGE and the log stays usable`,
    async (t) => {
      const { log } = await fresh(t);
      const huge: Entry = { index: 1, term: 1, type: 'normal', data: new Uint8Array(64 * 1024 * 1024 + 1) };
      t.equal(await codeOf(() => log.save(null, [huge], null)), 'RECORD_TOO_LARGE');
      await log.save(null, [ent(1, 1)], null);
      t.equal(log.lastIndex(), 1);
    },
  );

  t.test(`${name}: after close every writer call fails with CLOSED; close twice is harmless`, async (t) => {
    const { log } = await fresh(t);
    await log.close();
    await log.close();
    t.equal(await codeOf(() => log.save(null, [ent(1, 1)], null)), 'CLOSED');
    t.equal(await codeOf(() => log.compact(1)), 'CLOSED');
  });

  t.test(
    `${name}: matches MemoryStorage under random saves, compactions, snapshots and reopens`,
    async (t) => {
      const dirs: string[] = [];
      t.teardown(async () => {
        for (const d of dirs) await rm(d, { recursive: true, force: true });
      });
      const hardState = fc.record({ term: fc.nat(5), vote: fc.nat(3), commit: fc.nat(20) });
      const op = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant('save' as const),
            hardState: fc.option(hardState),
            back: fc.nat(3),
            count: fc.nat(4),
            term: fc.integer({ min: 1, max: 5 }),
            data: fc.uint8Array({ maxLength: 40 }),
            snapshot: fc.option(fc.record({ ahead: fc.integer({ min: -1, max: 6 }), term: fc.nat(5) }), {
              freq: 8,
            }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant('compact' as const),
            back: fc.integer({ min: -1, max: 4 }),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constant('snapshot' as const),
            back: fc.integer({ min: -1, max: 4 }),
          }),
        },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
      );
      await checkProperty(
        t,
        fc.asyncProperty(fc.nat(), fc.array(op, { maxLength: 60 }), async (variant, ops) => {
          const dir = await mkdtemp(join(tmpdir(), 'netcd-wal-model-'));
          dirs.push(dir);
          const model = new MemoryStorage();
          let log = await open(dir, variant);
          try {
            for (const o of ops) {
              const first = model.firstIndex();
              const last = model.lastIndex();
              let expected: string;
              let actual: string;
              if (o.kind === 'reopen') {
                await log.close();
                log = await open(dir, variant);
                continue;
              } else if (o.kind === 'compact') {
                const index = last - o.back;
                expected = await codeOf(() => model.compact(index));
                actual = await codeOf(() => log.compact(index));
              } else if (o.kind === 'snapshot') {
                // MemoryStorage.createSnapshot below its first index is a TypeError, not a code.
                const index = Math.max(first - 1, last - o.back);
                expected = await codeOf(() => model.createSnapshot(index, cs3, new Uint8Array(0)));
                actual = await codeOf(() => log.createSnapshot(index, cs3));
              } else {
                const install =
                  o.snapshot === null
                    ? null
                    : snap(model.snapshot().metadata.index + o.snapshot.ahead, o.snapshot.term);
                const base =
                  install === null || install.metadata.index <= model.snapshot().metadata.index
                    ? last
                    : install.metadata.index;
                const start = Math.max(1, base + 1 - o.back);
                const entries = Array.from({ length: o.count }, (_, i) => ({
                  index: start + i,
                  term: o.term,
                  type: 'normal' as const,
                  data: o.data.subarray(i),
                }));
                expected = await codeOf(() => {
                  if (install !== null) model.applySnapshot(install);
                  model.append(entries);
                  if (o.hardState !== null) model.setHardState(o.hardState);
                });
                actual = await codeOf(() => log.save(o.hardState, entries, install));
              }
              if (expected !== actual) throw new Error(`${o.kind}: model ${expected}, log ${actual}`);
              const want = JSON.stringify(observe(model));
              const got = JSON.stringify(observe(log));
              if (want !== got) throw new Error(`after ${JSON.stringify(o)}:\n model ${want}\n log   ${got}`);
              // What a crash right now would leave: a copy of the directory must replay to the model.
              const image = `${dir}-crash`;
              await cp(dir, image, { recursive: true });
              try {
                const crashed = await open(image, variant);
                const replayed = JSON.stringify(observe(crashed));
                await crashed.close();
                if (want !== replayed)
                  throw new Error(
                    `crash after ${JSON.stringify(o)}:\n model    ${want}\n replayed ${replayed}`,
                  );
              } finally {
                await rm(image, { recursive: true, force: true });
              }
            }
            await log.close();
            log = await open(dir, variant);
            const want = JSON.stringify(observe(model));
            const got = JSON.stringify(observe(log));
            if (want !== got) throw new Error(`after the final reopen:\n model ${want}\n log   ${got}`);
          } finally {
            await log.close();
            await rm(dir, { recursive: true, force: true });
          }
        }),
        Number(process.env.WAL_MODEL_RUNS ?? options.modelRuns ?? 60),
      );
    },
  );
}
