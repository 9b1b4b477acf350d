// Proves MemoryStorage matches etcd-raft's (bounds, byte limits, compaction, snapshots, appends) and an array model.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { isRaftError } from './errors.js';
import { limitSize, MemoryStorage } from './storage.js';
import { ent, ids } from './testing/entries.js';
import { type ConfState, type Entry, emptyConfState, entrySizeBytes, type Snapshot } from './types.js';

const FILE = 'raft/storage.test.ts';
const checkProperty = propertyChecker(FILE);

const cs3: ConfState = { ...emptyConfState(), voters: [1, 2, 3] };

function snap(index: number, term: number, confState: ConfState = cs3): Snapshot {
  return { metadata: { index, term, confState }, data: new Uint8Array([index]) };
}

/** Storage holding a snapshot at 3/3 and entries 4/4 and 5/5 (etcd's storage_test fixture). */
function fixture(): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(snap(3, 3));
  s.append([ent(4, 4), ent(5, 5)]);
  return s;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRaftError(err, 'COMPACTED')) return 'COMPACTED';
    if (isRaftError(err, 'UNAVAILABLE')) return 'UNAVAILABLE';
    if (isRaftError(err, 'SNAPSHOT_OUT_OF_DATE')) return 'SNAPSHOT_OUT_OF_DATE';
    if (isRaftError(err, 'INVARIANT')) return 'INVARIANT';
    throw err;
  }
  return 'ok';
}

t.test('a fresh storage is empty: first index 1, last index 0, term(0) = 0', async (t) => {
  const s = new MemoryStorage();
  t.equal(s.firstIndex(), 1);
  t.equal(s.lastIndex(), 0);
  t.equal(s.term(0), 0);
  t.equal(
    code(() => s.term(1)),
    'UNAVAILABLE',
  );
  t.same(s.initialState().hardState, { term: 0, vote: 0, commit: 0 });
  t.same(s.initialState().confState, emptyConfState());
});

t.test(
  'term(i) answers for the snapshot index and entries, COMPACTED below, UNAVAILABLE above',
  async (t) => {
    const s = fixture();
    t.equal(
      code(() => s.term(2)),
      'COMPACTED',
    );
    t.equal(s.term(3), 3);
    t.equal(s.term(4), 4);
    t.equal(s.term(5), 5);
    t.equal(
      code(() => s.term(6)),
      'UNAVAILABLE',
    );
    t.equal(s.firstIndex(), 4);
    t.equal(s.lastIndex(), 5);
  },
);

t.test('entries(lo, hi) returns [lo, hi), COMPACTED at or below the snapshot index', async (t) => {
  const s = fixture();
  t.equal(
    code(() => s.entries(3, 4, Infinity)),
    'COMPACTED',
  );
  t.same(ids(s.entries(4, 5, Infinity)), ['4/4']);
  t.same(ids(s.entries(4, 6, Infinity)), ['4/4', '5/5']);
  t.equal(
    code(() => s.entries(4, 7, Infinity)),
    'UNAVAILABLE',
  );
  const empty = new MemoryStorage();
  empty.applySnapshot(snap(3, 3));
  t.equal(
    code(() => empty.entries(4, 4, Infinity)),
    'UNAVAILABLE',
    'only the dummy entry is left',
  );
});

t.test('entries() stops at maxBytes but always returns at least one entry', async (t) => {
  const s = new MemoryStorage();
  s.append([ent(1, 1, 76), ent(2, 1, 76), ent(3, 1, 76), ent(4, 1, 76)]); // 100 bytes each
  t.same(ids(s.entries(1, 5, 0)), ['1/1']);
  t.same(ids(s.entries(1, 5, 199)), ['1/1']);
  t.same(ids(s.entries(1, 5, 200)), ['1/1', '1/2']);
  t.same(ids(s.entries(1, 5, 399)), ['1/1', '1/2', '1/3']);
  t.same(ids(s.entries(1, 5, 400)), ['1/1', '1/2', '1/3', '1/4']);
});

t.test('limitSize keeps the longest prefix within the limit, never less than one', async (t) => {
  const es = [ent(1, 1, 6), ent(2, 1, 16), ent(3, 1, 26)]; // 30, 40, 50 bytes
  t.same(limitSize([], 0), []);
  t.same(ids(limitSize(es, 1)), ['1/1']);
  t.same(ids(limitSize(es, 70)), ['1/1', '1/2']);
  t.same(ids(limitSize(es, 119)), ['1/1', '1/2']);
  t.equal(limitSize(es, 120), es, 'nothing cut: the same array');
});

t.test('compact drops entries up to the index and keeps its term as the new dummy', async (t) => {
  const s = fixture();
  t.equal(
    code(() => s.compact(2)),
    'COMPACTED',
  );
  t.equal(
    code(() => s.compact(3)),
    'COMPACTED',
  );
  t.equal(
    code(() => s.compact(6)),
    'INVARIANT',
    'cannot compact past the last index',
  );
  s.compact(4);
  t.equal(s.firstIndex(), 5);
  t.equal(s.lastIndex(), 5);
  t.equal(s.term(4), 4);
  t.equal(
    code(() => s.term(3)),
    'COMPACTED',
  );
  s.compact(5);
  t.equal(s.firstIndex(), 6);
  t.equal(s.lastIndex(), 5);
  t.equal(s.term(5), 5);
});

t.test(
  'createSnapshot records index, term, conf state and data; older indexes are out of date',
  async (t) => {
    const s = fixture();
    const cs: ConfState = { ...emptyConfState(), voters: [1, 2], learners: [3] };
    t.equal(
      code(() => s.createSnapshot(3, cs, new Uint8Array())),
      'SNAPSHOT_OUT_OF_DATE',
    );
    t.equal(
      code(() => s.createSnapshot(6, cs, new Uint8Array())),
      'INVARIANT',
    );
    const made = s.createSnapshot(4, cs, new Uint8Array([9]));
    t.same(made.metadata, { index: 4, term: 4, confState: cs });
    t.same([...made.data], [9]);
    t.equal(s.snapshot(), made);
    t.same(s.initialState().confState, cs);
    t.equal(s.firstIndex(), 4, 'creating a snapshot does not compact');
    t.equal(
      code(() => s.createSnapshot(4, cs, new Uint8Array())),
      'SNAPSHOT_OUT_OF_DATE',
    );
  },
);

t.test('applySnapshot replaces the log; an older or equal snapshot is refused', async (t) => {
  const s = fixture();
  t.equal(
    code(() => s.applySnapshot(snap(3, 3))),
    'SNAPSHOT_OUT_OF_DATE',
  );
  t.equal(
    code(() => s.applySnapshot(snap(2, 2))),
    'SNAPSHOT_OUT_OF_DATE',
  );
  s.applySnapshot(snap(10, 7));
  t.equal(s.firstIndex(), 11);
  t.equal(s.lastIndex(), 10);
  t.equal(s.term(10), 7);
  t.equal(
    code(() => s.term(5)),
    'COMPACTED',
  );
});

t.test('append truncates a conflicting suffix, ignores compacted entries, refuses gaps', async (t) => {
  const cases: { name: string; add: Entry[]; want: string[] | 'INVARIANT' }[] = [
    { name: 'same entries', add: [ent(3, 3), ent(4, 4), ent(5, 5)], want: ['3/3', '4/4', '5/5'] },
    { name: 'conflict at 4', add: [ent(3, 3), ent(4, 6), ent(5, 6)], want: ['3/3', '6/4', '6/5'] },
    {
      name: 'longer',
      add: [ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)],
      want: ['3/3', '4/4', '5/5', '5/6'],
    },
    { name: 'all compacted', add: [ent(2, 3), ent(3, 3)], want: ['3/3', '4/4', '5/5'] },
    {
      name: 'partly compacted, conflict after',
      add: [ent(2, 3), ent(3, 3), ent(4, 5)],
      want: ['3/3', '5/4'],
    },
    { name: 'truncate at 4', add: [ent(4, 5)], want: ['3/3', '5/4'] },
    { name: 'truncate at 5', add: [ent(5, 5)], want: ['3/3', '4/4', '5/5'] },
    { name: 'direct append', add: [ent(6, 5)], want: ['3/3', '4/4', '5/5', '5/6'] },
    { name: 'gap', add: [ent(7, 5)], want: 'INVARIANT' },
  ];
  for (const c of cases) {
    const s = fixture();
    if (c.want === 'INVARIANT') {
      t.equal(
        code(() => s.append(c.add)),
        'INVARIANT',
        c.name,
      );
      continue;
    }
    s.append(c.add);
    // entries() cannot return the dummy: read it back through term().
    const got = [
      `${s.term(3)}/3`,
      ...ids(s.lastIndex() >= 4 ? s.entries(4, s.lastIndex() + 1, Infinity) : []),
    ];
    t.same(got, c.want, c.name);
  }
  const s = fixture();
  s.append([]);
  t.equal(s.lastIndex(), 5, 'appending nothing is a no-op');
});

t.test('clone is a crash image: later writes to either copy do not show in the other', async (t) => {
  const s = fixture();
  s.setHardState({ term: 5, vote: 1, commit: 4 });
  const c = s.clone();
  s.append([ent(6, 6)]);
  c.append([ent(4, 9)]);
  t.equal(s.lastIndex(), 6);
  t.equal(c.lastIndex(), 4);
  t.equal(s.term(4), 4);
  t.equal(c.term(4), 9);
  t.same(c.initialState().hardState, { term: 5, vote: 1, commit: 4 });
});

// ---- property: MemoryStorage against an array model ----

type Op =
  | { kind: 'append'; at: number; terms: number[] }
  | { kind: 'compact'; at: number }
  | { kind: 'read'; lo: number; len: number; maxBytes: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    at: fc.nat(40),
    terms: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('compact' as const), at: fc.nat(40) }),
  fc.record({
    kind: fc.constant('read' as const),
    lo: fc.nat(40),
    len: fc.nat(10),
    maxBytes: fc.integer({ min: 0, max: 400 }),
  }),
);

t.test('property: append/compact/entries/term agree with an array model', async (t) => {
  checkProperty(
    t,
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const s = new MemoryStorage();
      // model[i] is the term of index i for i in [offset, model.length); model[offset] is the dummy.
      const model: number[] = [0];
      let offset = 0;
      const last = () => model.length - 1;
      for (const op of ops) {
        if (op.kind === 'append') {
          // Appends must be contiguous with the log (index <= last + 1).
          const first = Math.min(op.at, last() + 1);
          if (first === 0) continue;
          const es = op.terms.map((term, i) => ent(first + i, term, term * 10));
          s.append(es);
          const keptFrom = Math.max(first, offset + 1);
          for (const e of es) if (e.index >= keptFrom) model[e.index] = e.term;
          if (first + es.length - 1 >= keptFrom) model.length = first + es.length;
        } else if (op.kind === 'compact') {
          const r = code(() => s.compact(op.at));
          const want = op.at <= offset ? 'COMPACTED' : op.at > last() ? 'INVARIANT' : 'ok';
          if (r !== want) throw new Error(`compact(${op.at}): ${r}, want ${want}`);
          if (r === 'ok') offset = op.at;
        } else {
          const lo = op.lo;
          const hi = Math.min(lo + op.len, last() + 1);
          if (hi < lo) continue;
          let got: Entry[] | string;
          try {
            got = s.entries(lo, hi, op.maxBytes);
          } catch (err) {
            got = code(() => {
              throw err;
            });
          }
          let want: string[] | string;
          if (lo <= offset) want = 'COMPACTED';
          else if (last() === offset) want = 'UNAVAILABLE';
          else {
            want = [];
            let bytes = 0;
            for (let i = lo; i < hi; i++) {
              const term = model[i]!;
              bytes += term * 10 + 24;
              if (want.length > 0 && bytes > op.maxBytes) break;
              want.push(`${term}/${i}`);
            }
          }
          const gotIds = typeof got === 'string' ? got : ids(got);
          if (JSON.stringify(gotIds) !== JSON.stringify(want))
            throw new Error(
              `entries(${lo},${hi},${op.maxBytes}) = ${JSON.stringify(gotIds)}, want ${JSON.stringify(want)}`,
            );
        }
        if (s.firstIndex() !== offset + 1) throw new Error(`firstIndex ${s.firstIndex()} want ${offset + 1}`);
        if (s.lastIndex() !== last()) throw new Error(`lastIndex ${s.lastIndex()} want ${last()}`);
        for (let i = offset; i <= last(); i++) {
          if (s.term(i) !== model[i]) throw new Error(`term(${i}) = ${s.term(i)}, want ${model[i]}`);
        }
      }
    }),
    300,
  );
  // Sanity: the sizes used above match the storage's notion of entry size.
  t.equal(entrySizeBytes(ent(1, 3, 30)), 54);
});

t.test('createSnapshot below the first index is COMPACTED, not a crash', async (t) => {
  const s = new MemoryStorage();
  s.append(
    [1, 2, 3, 4, 5].map((i) => ({ term: 1, index: i, type: 'normal' as const, data: new Uint8Array(0) })),
  );
  s.compact(3);
  t.throws(
    () =>
      s.createSnapshot(
        2,
        { voters: [1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
        new Uint8Array(0),
      ),
    {
      code: 'COMPACTED',
    },
  );
});
