// Waiting callers always settle: with the value, the error, a timeout, a cancel or a stop.

import t from 'tap';
import { isServerError } from './api.js';
import { IndexWaiters, KeyedWaiters } from './waiters.js';

const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'none',
    (e: unknown) => (isServerError(e) ? e.code : String(e)),
  );

t.test('keyed waiters resolve, reject, time out and cancel', async (t) => {
  const w = new KeyedWaiters<number>();
  const a = w.wait('a', 10_000);
  t.equal(w.has('a'), true);
  t.equal(w.resolve('a', 42), true);
  t.equal(await a, 42);
  t.equal(w.size, 0, 'a settled waiter is forgotten');
  t.equal(w.resolve('a', 1), false, 'a second resolve finds nobody');
  const b = w.wait('b', 10_000);
  t.equal(w.reject('b', new Error('boom')), true);
  t.equal(await codeOf(b), 'Error: boom');
  t.equal(w.reject('b', new Error('again')), false);
  t.equal(await codeOf(w.wait('c', 5)), 'TIMEOUT');
  const ac = new AbortController();
  const d = w.wait('d', 10_000, ac.signal);
  ac.abort();
  t.equal(await codeOf(d), 'CANCELED');
  const aborted = new AbortController();
  aborted.abort();
  t.equal(await codeOf(w.wait('e', 10_000, aborted.signal)), 'CANCELED', 'an already aborted signal cancels');
  const f = w.wait('f', 10_000);
  const g = w.wait('g', 10_000);
  w.rejectAll(new Error('stopped'));
  t.same(await Promise.all([codeOf(f), codeOf(g)]), ['Error: stopped', 'Error: stopped']);
  t.equal(w.size, 0);
});

t.test('index waiters resolve once the applied index reaches theirs', async (t) => {
  const w = new IndexWaiters();
  await w.wait(5, 5, 10_000);
  t.equal(w.size, 0, 'an index already applied does not wait');
  const order: number[] = [];
  const p7 = w.wait(7, 5, 10_000).then(() => order.push(7));
  const p9 = w.wait(9, 5, 10_000).then(() => order.push(9));
  w.notify(8);
  await p7;
  t.same(order, [7]);
  t.equal(w.size, 1);
  w.notify(9);
  await p9;
  t.same(order, [7, 9]);
  t.equal(await codeOf(w.wait(100, 1, 5)), 'TIMEOUT');
  const x = w.wait(100, 1, 10_000);
  w.rejectAll(new Error('stopped'));
  t.equal(await codeOf(x), 'Error: stopped');
});
