// Proves the unstable log keeps entries[i].index === offset + i and answers indexes and terms like etcd-raft's.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { type Entry, emptyConfState, type Snapshot } from './types.js';
import { Unstable } from './unstable.js';

const FILE = 'raft/unstable.test.ts';
const checkProperty = propertyChecker(FILE);

const ent = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array() });
/** Entries as "term/index" strings. */
const ids = (es: readonly Entry[]): string[] => es.map((e) => `${e.term}/${e.index}`);
const snap = (index: number, term: number): Snapshot => ({
  metadata: { index, term, confState: emptyConfState() },
  data: new Uint8Array(),
});

function unstable(offset: number, entries: Entry[], snapshot: Snapshot | null = null): Unstable {
  const u = new Unstable(offset);
  u.entries = entries;
  u.snapshot = snapshot;
  return u;
}

t.test('maybeFirstIndex is known only from a snapshot', async (t) => {
  t.equal(unstable(5, [ent(5, 1)]).maybeFirstIndex(), null);
  t.equal(unstable(0, []).maybeFirstIndex(), null);
  t.equal(unstable(5, [ent(5, 1)], snap(4, 1)).maybeFirstIndex(), 5);
  t.equal(unstable(5, [], snap(4, 1)).maybeFirstIndex(), 5);
});

t.test('maybeLastIndex comes from the last entry, else the snapshot, else unknown', async (t) => {
  t.equal(unstable(5, [ent(5, 1)]).maybeLastIndex(), 5);
  t.equal(unstable(5, [ent(5, 1)], snap(4, 1)).maybeLastIndex(), 5);
  t.equal(unstable(5, [], snap(4, 1)).maybeLastIndex(), 4);
  t.equal(unstable(0, []).maybeLastIndex(), null);
});

t.test('maybeTerm answers for entries and the snapshot index only', async (t) => {
  const cases: [Unstable, number, number | null][] = [
    [unstable(5, [ent(5, 1)]), 5, 1],
    [unstable(5, [ent(5, 1)]), 6, null],
    [unstable(5, [ent(5, 1)]), 4, null],
    [unstable(5, [ent(5, 1)], snap(4, 1)), 5, 1],
    [unstable(5, [ent(5, 1)], snap(4, 1)), 6, null],
    [unstable(5, [ent(5, 1)], snap(4, 1)), 4, 1],
    [unstable(5, [ent(5, 1)], snap(4, 1)), 3, null],
    [unstable(5, [], snap(4, 1)), 5, null],
    [unstable(5, [], snap(4, 1)), 4, 1],
    [unstable(0, []), 5, null],
  ];
  for (const [u, index, want] of cases) t.equal(u.maybeTerm(index), want, `maybeTerm(${index})`);
});

t.test('stableTo drops entries up to a matching (index, term) and ignores stale acks', async (t) => {
  const cases: { u: () => Unstable; index: number; term: number; offset: number; left: string[] }[] = [
    { u: () => unstable(0, []), index: 5, term: 1, offset: 0, left: [] },
    { u: () => unstable(5, [ent(5, 1)]), index: 5, term: 1, offset: 6, left: [] },
    { u: () => unstable(5, [ent(5, 1), ent(6, 1)]), index: 5, term: 1, offset: 6, left: ['1/6'] },
    { u: () => unstable(6, [ent(6, 2)]), index: 6, term: 1, offset: 6, left: ['2/6'] },
    { u: () => unstable(5, [ent(5, 1)]), index: 4, term: 1, offset: 5, left: ['1/5'] },
    { u: () => unstable(5, [ent(5, 1)]), index: 4, term: 2, offset: 5, left: ['1/5'] },
    { u: () => unstable(5, [ent(5, 1)], snap(4, 1)), index: 5, term: 1, offset: 6, left: [] },
    { u: () => unstable(5, [ent(5, 1)], snap(4, 1)), index: 4, term: 1, offset: 5, left: ['1/5'] },
    { u: () => unstable(5, [], snap(4, 1)), index: 4, term: 1, offset: 5, left: [] },
  ];
  for (const c of cases) {
    const u = c.u();
    u.stableTo(c.index, c.term);
    t.equal(u.offset, c.offset, `stableTo(${c.index}, ${c.term}) offset`);
    t.same(ids(u.entries), c.left, `stableTo(${c.index}, ${c.term}) entries`);
  }
});

t.test('stableSnapTo clears only the snapshot with that index', async (t) => {
  const u = unstable(5, [], snap(4, 1));
  u.stableSnapTo(3);
  t.not(u.snapshot, null);
  u.stableSnapTo(4);
  t.equal(u.snapshot, null);
});

t.test('restore replaces everything with the snapshot', async (t) => {
  const u = unstable(5, [ent(5, 1)], snap(4, 1));
  const s = snap(6, 2);
  u.restore(s);
  t.equal(u.offset, 7);
  t.same(u.entries, []);
  t.equal(u.snapshot, s);
});

t.test('truncateAndAppend appends, replaces all, or truncates in the middle', async (t) => {
  const cases: { name: string; u: () => Unstable; add: Entry[]; offset: number; want: string[] }[] = [
    {
      name: 'append',
      u: () => unstable(5, [ent(5, 1)]),
      add: [ent(6, 1), ent(7, 1)],
      offset: 5,
      want: ['1/5', '1/6', '1/7'],
    },
    {
      name: 'replace at offset',
      u: () => unstable(5, [ent(5, 1)]),
      add: [ent(5, 2), ent(6, 2)],
      offset: 5,
      want: ['2/5', '2/6'],
    },
    {
      name: 'replace below offset',
      u: () => unstable(5, [ent(5, 1)]),
      add: [ent(4, 2), ent(5, 2), ent(6, 2)],
      offset: 4,
      want: ['2/4', '2/5', '2/6'],
    },
    {
      name: 'truncate middle',
      u: () => unstable(5, [ent(5, 1), ent(6, 1), ent(7, 1)]),
      add: [ent(6, 2)],
      offset: 5,
      want: ['1/5', '2/6'],
    },
    {
      name: 'truncate last',
      u: () => unstable(5, [ent(5, 1), ent(6, 1), ent(7, 1)]),
      add: [ent(7, 2), ent(8, 2)],
      offset: 5,
      want: ['1/5', '1/6', '2/7', '2/8'],
    },
    { name: 'nothing', u: () => unstable(5, [ent(5, 1)]), add: [], offset: 5, want: ['1/5'] },
  ];
  for (const c of cases) {
    const u = c.u();
    u.truncateAndAppend(c.add);
    t.equal(u.offset, c.offset, `${c.name}: offset`);
    t.same(ids(u.entries), c.want, `${c.name}: entries`);
  }
});

t.test('slice returns [lo, hi) and refuses out-of-range bounds with an INVARIANT error', async (t) => {
  const u = unstable(5, [ent(5, 1), ent(6, 1), ent(7, 2)]);
  t.same(ids(u.slice(5, 8)), ['1/5', '1/6', '2/7']);
  t.same(ids(u.slice(6, 7)), ['1/6']);
  t.same(u.slice(8, 8), []);
  for (const [lo, hi] of [
    [4, 6],
    [5, 9],
    [7, 6],
  ] as const) {
    t.throws(() => u.slice(lo, hi), { name: 'RaftError', code: 'INVARIANT' }, `slice(${lo}, ${hi})`);
  }
});

// ---- property: random appends and acks keep the offset invariant and match a model ----

type Op =
  | { kind: 'append'; back: number; n: number; term: number }
  | { kind: 'stable'; back: number; termDelta: number };

t.test('property: entries[i].index === offset + i and contents match a term-per-index model', async (t) => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('append' as const),
      back: fc.nat(6),
      n: fc.integer({ min: 1, max: 4 }),
      term: fc.integer({ min: 1, max: 9 }),
    }),
    fc.record({
      kind: fc.constant('stable' as const),
      back: fc.nat(6),
      termDelta: fc.integer({ min: -1, max: 1 }),
    }),
  );
  checkProperty(
    t,
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const u = new Unstable(1);
      // model: term of each index from 1 to last; stable: highest index known durable.
      const model: number[] = [0];
      let stable = 0;
      for (const op of ops) {
        const last = model.length - 1;
        if (op.kind === 'append') {
          // Never truncate below what is already durable (raft never rewrites the durable prefix here).
          const first = Math.max(stable + 1, last + 1 - op.back);
          const es = Array.from({ length: op.n }, (_, i) => ent(first + i, op.term));
          u.truncateAndAppend(es);
          model.length = first;
          for (const e of es) model[e.index] = e.term;
        } else {
          const index = last - op.back;
          if (index < 1) continue;
          const term = model[index]! + op.termDelta;
          u.stableTo(index, term);
          if (term === model[index] && index >= stable + 1) stable = index;
        }
        for (let i = 0; i < u.entries.length; i++) {
          if (u.entries[i]!.index !== u.offset + i)
            throw new Error(`entries[${i}] has index ${u.entries[i]!.index}`);
        }
        if (u.offset !== stable + 1) throw new Error(`offset ${u.offset}, want ${stable + 1}`);
        for (const e of u.entries) {
          if (model[e.index] !== e.term)
            throw new Error(`entry ${e.index} term ${e.term}, want ${model[e.index]}`);
        }
        const wantLast = model.length - 1 > stable ? model.length - 1 : null;
        if (u.maybeLastIndex() !== wantLast) throw new Error(`last ${u.maybeLastIndex()}, want ${wantLast}`);
      }
    }),
    500,
  );
});
