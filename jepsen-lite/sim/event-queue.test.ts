// The event queue orders by time and, at equal times, by insertion: the simulator's determinism.
import fc from 'fast-check';
import t from 'tap';
import { EventQueue } from './event-queue.js';

t.test('pops in (time, insertion) order for any pushes', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
      const q = new EventQueue<number>();
      for (const [i, at] of times.entries()) q.push(at, i);
      const expected = times.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
      const got: { at: number; i: number }[] = [];
      for (let e = q.pop(); e !== undefined; e = q.pop()) got.push({ at: e.atMs, i: e.event });
      return JSON.stringify(got) === JSON.stringify(expected) && q.size === 0;
    }),
  );
  const q = new EventQueue<string>();
  t.equal(q.pop(), undefined);
  q.push(5, 'b');
  q.push(1, 'a');
  t.equal(q.peek()?.event, 'a');
});
