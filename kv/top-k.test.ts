// TopK keeps exactly what a stable sort of the whole stream, cut to k, would: the first k in order,
// ties in arrival order, whatever the stream's length and order.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { TopK } from './top-k.js';

const checkProperty = propertyChecker('kv/top-k.test.ts');

interface Item {
  readonly rank: number;
  readonly id: number;
}
const byRank = (a: Item, b: Item): number => a.rank - b.rank;

t.test('the first k of a stream, ties in arrival order', async (t) => {
  const top = new TopK<Item>(3, byRank);
  for (const [id, rank] of [5, 1, 3, 1, 2, 1, 0].entries()) top.offer({ rank, id });
  t.strictSame(top.sorted(), [
    { rank: 0, id: 6 },
    { rank: 1, id: 1 },
    { rank: 1, id: 3 },
  ]);
  t.equal(top.size, 3);
});

t.test('fewer items than k: all of them, in order', async (t) => {
  const top = new TopK<Item>(10, (a, b) => b.rank - a.rank);
  for (const [id, rank] of [2, 7, 2].entries()) top.offer({ rank, id });
  t.strictSame(
    top.sorted().map((x) => x.id),
    [1, 0, 2],
  );
});

t.test('k must be a positive integer', async (t) => {
  for (const k of [0, -1, 1.5, Number.NaN]) t.throws(() => new TopK<Item>(k, byRank), RangeError, `k=${k}`);
});

t.test('property: equals a stable sort of the whole stream cut to k', async (t) => {
  checkProperty(
    t,
    fc.property(
      fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 200 }),
      fc.integer({ min: 1, max: 20 }),
      fc.boolean(),
      (ranks, k, descending) => {
        const order = descending ? (a: Item, b: Item) => b.rank - a.rank : byRank;
        const items = ranks.map((rank, id) => ({ rank, id }));
        const top = new TopK<Item>(k, order);
        for (const item of items) top.offer(item);
        const want = [...items].sort(order).slice(0, k);
        return JSON.stringify(top.sorted()) === JSON.stringify(want) && top.size === want.length;
      },
    ),
    500,
  );
});
