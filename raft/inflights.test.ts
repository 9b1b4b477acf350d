// Proves the inflight window fills by count or bytes, frees in order on acks, and matches a queue model.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { Inflights } from './inflights.js';

const FILE = 'raft/inflights.test.ts';
const checkProperty = propertyChecker(FILE);

t.test('the window is full after maxCount messages', async (t) => {
  const w = new Inflights(3, 0);
  t.equal(w.count, 0);
  t.notOk(w.full());
  w.add(1, 100);
  w.add(2, 100);
  t.notOk(w.full());
  w.add(3, 100);
  t.ok(w.full());
  t.equal(w.count, 3);
});

t.test('the window is full once maxBytes are in flight; 0 bytes means no byte limit', async (t) => {
  const w = new Inflights(10, 250);
  w.add(1, 100);
  w.add(2, 100);
  t.notOk(w.full(), '200 < 250');
  w.add(3, 50);
  t.ok(w.full(), '250 >= 250');
  w.freeLE(1);
  t.notOk(w.full(), '150 after freeing 100');
  const unlimited = new Inflights(10, 0);
  unlimited.add(1, 1e9);
  t.notOk(unlimited.full());
});

t.test('freeLE frees every message whose last index is <= to, oldest first', async (t) => {
  const w = new Inflights(10, 0);
  for (const i of [2, 4, 6, 8]) w.add(i, 1);
  w.freeLE(1);
  t.equal(w.count, 4, 'nothing at or below 1');
  w.freeLE(5);
  t.equal(w.count, 2, '2 and 4 freed');
  w.freeLE(5);
  t.equal(w.count, 2, 'idempotent');
  w.freeLE(100);
  t.equal(w.count, 0);
});

t.test('freeFirstOne frees exactly the oldest message, and nothing when empty', async (t) => {
  const w = new Inflights(2, 0);
  w.freeFirstOne();
  t.equal(w.count, 0);
  w.add(5, 1);
  w.add(7, 1);
  t.ok(w.full());
  w.freeFirstOne();
  t.equal(w.count, 1);
  t.notOk(w.full());
  w.freeLE(6);
  t.equal(w.count, 1, '7 is still in flight');
});

t.test('reset empties the window', async (t) => {
  const w = new Inflights(2, 10);
  w.add(1, 10);
  t.ok(w.full());
  w.reset();
  t.equal(w.count, 0);
  t.notOk(w.full());
});

type Op =
  | { kind: 'add'; bytes: number }
  | { kind: 'free'; back: number }
  | { kind: 'freeFirst' }
  | { kind: 'reset' };

t.test('property: count, fullness and freeing match a queue model over long runs', async (t) => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ kind: fc.constant('add' as const), bytes: fc.integer({ min: 0, max: 50 }) }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), back: fc.nat(10) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('freeFirst' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
  );
  checkProperty(
    t,
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 0, max: 300 }),
      fc.array(opArb, { maxLength: 400 }),
      (maxCount, maxBytes, ops) => {
        const w = new Inflights(maxCount, maxBytes);
        let queue: { index: number; bytes: number }[] = [];
        let next = 1;
        for (const op of ops) {
          if (op.kind === 'add') {
            // A leader only adds when the window has room.
            if (w.full()) continue;
            w.add(next, op.bytes);
            queue.push({ index: next, bytes: op.bytes });
            next++;
          } else if (op.kind === 'free') {
            const to = next - 1 - op.back;
            w.freeLE(to);
            queue = queue.filter((m) => m.index > to);
          } else if (op.kind === 'freeFirst') {
            w.freeFirstOne();
            queue = queue.slice(1);
          } else {
            w.reset();
            queue = [];
          }
          const bytes = queue.reduce((n, m) => n + m.bytes, 0);
          const full = queue.length >= maxCount || (maxBytes > 0 && bytes >= maxBytes);
          if (w.count !== queue.length) throw new Error(`count ${w.count}, model ${queue.length}`);
          if (w.full() !== full) throw new Error(`full ${w.full()}, model ${full} (bytes ${bytes})`);
        }
      },
    ),
    300,
  );
});
