// Proves RaftLog's contract (terms, slices, maybeAppend, conflict search, Figure 8 commit, bounds) and a model.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { NO_LIMIT, RaftLog } from './log.js';
import { MemoryStorage } from './storage.js';
import { ent, ids } from './testing/entries.js';
import { type Entry, emptyConfState, type Snapshot } from './types.js';

const FILE = 'raft/log.test.ts';
const checkProperty = propertyChecker(FILE);
const INVARIANT = { name: 'RaftError', code: 'INVARIANT' };
const COMPACTED = { name: 'RaftError', code: 'COMPACTED' };

/** Entries with the given terms at indexes first, first+1, ... */
const run = (first: number, terms: readonly number[], size = 0): Entry[] =>
  terms.map((term, i) => ent(first + i, term, size));
const snap = (index: number, term: number): Snapshot => ({
  metadata: { index, term, confState: { ...emptyConfState(), voters: [1] } },
  data: new Uint8Array(),
});

/** A log whose storage holds `stored` (from index 1) and whose unstable part holds `unstable`. */
function logOf(
  stored: readonly number[],
  unstable: readonly number[] = [],
  maxApplyBytes = NO_LIMIT,
): RaftLog {
  const s = new MemoryStorage();
  s.append(run(1, stored));
  const log = new RaftLog(s, maxApplyBytes);
  log.append(run(stored.length + 1, unstable));
  return log;
}

t.test('a new log starts committed and applied at the storage snapshot', async (t) => {
  const s = new MemoryStorage();
  s.applySnapshot(snap(5, 2));
  s.append(run(6, [2, 3]));
  const log = new RaftLog(s);
  t.equal(log.firstIndex(), 6);
  t.equal(log.lastIndex(), 7);
  t.equal(log.lastTerm(), 3);
  t.equal(log.committed, 5);
  t.equal(log.applied, 5);
  t.equal(log.unstable.offset, 8, 'everything in storage is stable');
});

t.test('term() reads storage, unstable and the snapshot; COMPACTED below, UNAVAILABLE above', async (t) => {
  const s = new MemoryStorage();
  s.applySnapshot(snap(3, 1));
  s.append(run(4, [1, 2]));
  const log = new RaftLog(s);
  log.append(run(6, [3, 3]));
  t.same(
    [3, 4, 5, 6, 7].map((i) => log.term(i)),
    [1, 1, 2, 3, 3],
  );
  t.throws(() => log.term(2), COMPACTED);
  t.throws(() => log.term(8), { name: 'RaftError', code: 'UNAVAILABLE' });
  t.equal(log.zeroTermOnError(2), 0);
  t.equal(log.zeroTermOnError(8), 0);
  t.ok(log.matchTerm(5, 2));
  t.notOk(log.matchTerm(5, 3));
});

t.test('isUpToDate: higher last term wins, same term needs an index at least as long', async (t) => {
  const log = logOf([1, 2, 3]);
  const cases: [number, number, boolean][] = [
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ];
  for (const [index, term, want] of cases) t.equal(log.isUpToDate(index, term), want, `(${index}, ${term})`);
});

t.test('findConflict returns the first index whose term differs, 0 when all match', async (t) => {
  const log = logOf([1, 2, 3]);
  t.equal(log.findConflict([]), 0);
  t.equal(log.findConflict(run(1, [1, 2, 3])), 0);
  t.equal(log.findConflict(run(2, [2, 3])), 0);
  t.equal(log.findConflict(run(1, [1, 2, 3, 4, 4])), 4, 'new entries');
  t.equal(log.findConflict(run(3, [3, 4])), 4);
  t.equal(log.findConflict(run(1, [4, 4])), 1);
  t.equal(log.findConflict(run(2, [1, 4, 4])), 2);
  t.equal(log.findConflict(run(3, [1, 2, 4, 4])), 3);
});

t.test(
  'findConflictByTerm finds the last index <= i with term <= t, stopping at the compacted edge',
  async (t) => {
    const log = logOf([1, 1, 1, 2, 2, 3, 3, 3]);
    const cases: [number, number, { index: number; term: number }][] = [
      [8, 3, { index: 8, term: 3 }],
      [8, 4, { index: 8, term: 3 }],
      [8, 2, { index: 5, term: 2 }],
      [8, 1, { index: 3, term: 1 }],
      [8, 0, { index: 0, term: 0 }],
      [6, 2, { index: 5, term: 2 }],
      [20, 3, { index: 8, term: 3 }],
    ];
    for (const [i, term, want] of cases) t.same(log.findConflictByTerm(i, term), want, `(${i}, ${term})`);

    const s = new MemoryStorage();
    s.applySnapshot(snap(3, 1));
    s.append(run(4, [2, 2, 3, 3, 3]));
    const compacted = new RaftLog(s);
    t.same(compacted.findConflictByTerm(8, 1), { index: 3, term: 1 }, 'the snapshot index still has a term');
    t.same(compacted.findConflictByTerm(8, 0), { index: 2, term: 0 }, 'unknown term below the first index');
  },
);

t.test(
  'maybeAppend: appends on a match, truncates conflicts, commits min(leader commit, last new)',
  async (t) => {
    const cases: {
      name: string;
      index: number;
      logTerm: number;
      commit: number;
      ents: Entry[];
      want: number | null;
      committed: number;
      log: string[];
    }[] = [
      {
        name: 'term mismatch',
        index: 3,
        logTerm: 2,
        commit: 3,
        ents: [ent(4, 4)],
        want: null,
        committed: 1,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'index out of bound',
        index: 4,
        logTerm: 3,
        commit: 3,
        ents: [ent(5, 4)],
        want: null,
        committed: 1,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'heartbeat-like',
        index: 3,
        logTerm: 3,
        commit: 3,
        ents: [],
        want: 3,
        committed: 3,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'commit capped by last new',
        index: 3,
        logTerm: 3,
        commit: 4,
        ents: [],
        want: 3,
        committed: 3,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'commit lower than ours',
        index: 3,
        logTerm: 3,
        commit: 0,
        ents: [],
        want: 3,
        committed: 1,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'append',
        index: 3,
        logTerm: 3,
        commit: 4,
        ents: [ent(4, 4)],
        want: 4,
        committed: 4,
        log: ['1/1', '2/2', '3/3', '4/4'],
      },
      {
        name: 'append two',
        index: 3,
        logTerm: 3,
        commit: 5,
        ents: [ent(4, 4), ent(5, 4)],
        want: 5,
        committed: 5,
        log: ['1/1', '2/2', '3/3', '4/4', '4/5'],
      },
      {
        name: 'commit below last new',
        index: 3,
        logTerm: 3,
        commit: 4,
        ents: [ent(4, 4), ent(5, 4)],
        want: 5,
        committed: 4,
        log: ['1/1', '2/2', '3/3', '4/4', '4/5'],
      },
      {
        name: 'stale, already present',
        index: 1,
        logTerm: 1,
        commit: 3,
        ents: [ent(2, 2)],
        want: 2,
        committed: 2,
        log: ['1/1', '2/2', '3/3'],
      },
      {
        name: 'conflict at 3',
        index: 2,
        logTerm: 2,
        commit: 3,
        ents: [ent(3, 4)],
        want: 3,
        committed: 3,
        log: ['1/1', '2/2', '4/3'],
      },
      {
        name: 'conflict at 2',
        index: 1,
        logTerm: 1,
        commit: 1,
        ents: [ent(2, 4), ent(3, 4)],
        want: 3,
        committed: 1,
        log: ['1/1', '4/2', '4/3'],
      },
    ];
    for (const c of cases) {
      const log = logOf([1, 2, 3]);
      log.commitTo(1);
      t.equal(log.maybeAppend(c.index, c.logTerm, c.commit, c.ents), c.want, `${c.name}: result`);
      t.equal(log.committed, c.committed, `${c.name}: committed`);
      t.same(ids(log.allEntries()), c.log, `${c.name}: log`);
    }
  },
);

t.test('maybeAppend refuses to overwrite a committed entry (INVARIANT)', async (t) => {
  const log = logOf([1, 2, 3]);
  log.commitTo(2);
  t.throws(() => log.maybeAppend(1, 1, 3, [ent(2, 4)]), INVARIANT);
  t.same(ids(log.allEntries()), ['1/1', '2/2', '3/3'], 'nothing changed');
});

t.test(
  'append below the commit index is an INVARIANT error; empty append returns the last index',
  async (t) => {
    const log = logOf([1, 2, 3]);
    log.commitTo(2);
    t.throws(() => log.append([ent(2, 4)]), INVARIANT);
    t.equal(log.append([]), 3);
    t.equal(log.append([ent(3, 4)]), 3, 'replacing an uncommitted entry is fine');
    t.equal(log.lastTerm(), 4);
  },
);

t.test('commitTo never goes backwards and never passes the last index', async (t) => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  log.commitTo(1);
  t.equal(log.committed, 2, 'a lower commit is ignored');
  t.throws(() => log.commitTo(4), INVARIANT);
  t.equal(log.committed, 2);
});

t.test('appliedTo stays within [applied, committed]', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  log.appliedTo(2);
  t.equal(log.applied, 2);
  log.appliedTo(0);
  t.equal(log.applied, 2, 'zero is ignored');
  t.throws(() => log.appliedTo(4), INVARIANT, 'beyond committed');
  t.throws(() => log.appliedTo(1), INVARIANT, 'backwards');
});

t.test('maybeCommit commits only an index of the given (current) term: the Figure 8 rule', async (t) => {
  const log = logOf([1, 1, 2, 2]);
  t.notOk(log.maybeCommit(2, 2), 'index 2 is a term-1 entry: not committed by a term-2 leader');
  t.equal(log.committed, 0);
  t.ok(log.maybeCommit(3, 2));
  t.equal(log.committed, 3, 'committing a current-term entry commits the earlier ones too');
  t.notOk(log.maybeCommit(3, 2), 'no change');
  t.notOk(log.maybeCommit(2, 1), 'never backwards');
  t.notOk(log.maybeCommit(9, 2), 'an index not in the log');
  t.equal(log.committed, 3);
});

t.test('nextEntries hands out committed, unapplied entries bounded by maxApplyBytes', async (t) => {
  const log = logOf([1, 1, 1], [1, 1], 200);
  t.notOk(log.hasNextEntries());
  t.same(log.nextEntries(), []);
  log.commitTo(5);
  t.ok(log.hasNextEntries());
  t.same(ids(log.nextEntries()), ['1/1', '1/2', '1/3', '1/4', '1/5'], 'zero-byte payloads: 24 bytes each');
  log.appliedTo(3);
  t.same(ids(log.nextEntries()), ['1/4', '1/5'], 'crosses from storage into unstable');
  log.appliedTo(5);
  t.notOk(log.hasNextEntries());

  const big = new MemoryStorage();
  big.append(run(1, [1, 1, 1, 1], 76)); // 100 bytes each
  const limited = new RaftLog(big, 250);
  limited.commitTo(4);
  t.same(ids(limited.nextEntries()), ['1/1', '1/2']);
  limited.appliedTo(2);
  t.same(ids(limited.nextEntries()), ['1/3', '1/4']);
});

t.test('slice spans storage and unstable, honours maxBytes, and refuses compacted ranges', async (t) => {
  const s = new MemoryStorage();
  s.applySnapshot(snap(2, 1));
  s.append(run(3, [1, 1, 1], 76));
  const log = new RaftLog(s);
  log.append(run(6, [2, 2, 2], 76));
  t.same(ids(log.slice(3, 9, NO_LIMIT)), ['1/3', '1/4', '1/5', '2/6', '2/7', '2/8']);
  t.same(ids(log.slice(4, 7, NO_LIMIT)), ['1/4', '1/5', '2/6']);
  t.same(ids(log.slice(4, 9, 250)), ['1/4', '1/5'], 'limit reached inside storage');
  t.same(ids(log.slice(5, 9, 250)), ['1/5', '2/6'], 'limit reached inside unstable');
  t.same(ids(log.slice(5, 9, 0)), ['1/5'], 'always at least one entry');
  t.same(log.slice(6, 6, NO_LIMIT), []);
  t.throws(() => log.slice(2, 4, NO_LIMIT), COMPACTED);
  t.throws(() => log.slice(4, 10, NO_LIMIT), INVARIANT);
  t.same(log.entries(9, NO_LIMIT), [], 'entries past the end');
  t.same(ids(log.entries(8, NO_LIMIT)), ['2/8']);
});

t.test('stableTo moves unstable entries out only when (index, term) still matches', async (t) => {
  const log = logOf([1], [2, 2, 2]);
  t.same(ids(log.unstableEntries()), ['2/2', '2/3', '2/4']);
  log.stableTo(3, 1);
  t.equal(log.unstableEntries().length, 3, 'stale term: ignored');
  log.stableTo(3, 2);
  t.same(ids(log.unstableEntries()), ['2/4']);
});

t.test(
  'restore installs a snapshot: committed at its index, log empty after it, snapshot pending',
  async (t) => {
    const log = logOf([1, 1, 1], [2]);
    log.commitTo(2);
    const s = snap(10, 3);
    t.notOk(log.hasPendingSnapshot());
    log.restore(s);
    t.ok(log.hasPendingSnapshot());
    t.equal(log.snapshot(), s);
    t.equal(log.committed, 10);
    t.equal(log.firstIndex(), 11);
    t.equal(log.lastIndex(), 10);
    t.equal(log.lastTerm(), 3);
    t.same(log.allEntries(), []);
    t.notOk(log.hasNextEntries(), 'nothing to apply beyond the snapshot');
    log.stableSnapTo(10);
    t.notOk(log.hasPendingSnapshot());
  },
);

// ---- property: the log against a model ----

type Op =
  | { kind: 'append'; back: number; terms: number[] }
  | { kind: 'persist' }
  | { kind: 'commit'; back: number }
  | { kind: 'compact'; back: number };

t.test(
  'property: appends, persists, commits and compactions agree with a term-per-index model',
  async (t) => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('append' as const),
        back: fc.nat(5),
        terms: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 5 }),
      }),
      fc.record({ kind: fc.constant('persist' as const) }),
      fc.record({ kind: fc.constant('commit' as const), back: fc.nat(4) }),
      fc.record({ kind: fc.constant('compact' as const), back: fc.nat(4) }),
    );
    checkProperty(
      t,
      fc.property(fc.array(opArb, { maxLength: 50 }), (ops) => {
        const storage = new MemoryStorage();
        const log = new RaftLog(storage);
        const model: number[] = [0]; // model[i] = term at index i
        let first = 1;
        for (const op of ops) {
          const last = model.length - 1;
          const committedBefore = log.committed;
          if (op.kind === 'append') {
            const at = Math.max(log.committed + 1, last + 1 - op.back);
            log.append(run(at, op.terms));
            model.length = at;
            op.terms.forEach((term, i) => {
              model[at + i] = term;
            });
          } else if (op.kind === 'persist') {
            const es = log.unstableEntries();
            const lastEnt = es[es.length - 1];
            storage.append(es);
            if (lastEnt !== undefined) log.stableTo(lastEnt.index, lastEnt.term);
            if (log.unstableEntries().length !== 0) throw new Error('persisted entries still unstable');
          } else if (op.kind === 'commit') {
            log.commitTo(Math.max(0, last - op.back));
          } else {
            const upTo = Math.min(log.committed, storage.lastIndex(), log.unstable.offset - 1) - op.back;
            if (upTo >= first) {
              storage.compact(upTo);
              first = upTo + 1;
            }
          }
          if (log.committed < committedBefore) throw new Error('commit went backwards');
          if (log.committed > log.lastIndex()) throw new Error('commit beyond last index');
          if (log.lastIndex() !== model.length - 1)
            throw new Error(`last ${log.lastIndex()} != ${model.length - 1}`);
          if (log.firstIndex() !== first) throw new Error(`first ${log.firstIndex()} != ${first}`);
          const got = log.allEntries().map((e) => `${e.index}:${e.term}`);
          const want = model.slice(first).map((term, i) => `${first + i}:${term}`);
          if (got.join(',') !== want.join(',')) throw new Error(`log ${got} != model ${want}`);
          for (let i = first - 1; i < model.length; i++) {
            if (i > 0 && log.term(i) !== model[i])
              throw new Error(`term(${i}) = ${log.term(i)} != ${model[i]}`);
          }
        }
      }),
      400,
    );
  },
);
