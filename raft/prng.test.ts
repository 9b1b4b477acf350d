import t from 'tap';
import { Prng } from './prng.js';

t.test('same seed gives the same sequence, different seeds differ', async (t) => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const sa = Array.from({ length: 20 }, () => a.int(1000));
  const sb = Array.from({ length: 20 }, () => b.int(1000));
  const sc = Array.from({ length: 20 }, () => c.int(1000));
  t.same(sa, sb);
  t.not(sa.join(','), sc.join(','));
});

t.test('int(n) stays in [0, n) and covers the range', async (t) => {
  const p = new Prng(7);
  const seen = new Set<number>();
  const values = Array.from({ length: 2000 }, () => p.int(10));
  t.same(
    values.filter((v) => v < 0 || v >= 10 || !Number.isInteger(v)),
    [],
  );
  for (const v of values) seen.add(v);
  t.equal(seen.size, 10);
  t.equal(p.int(0), 0);
  t.throws(() => p.pick([]));
});
