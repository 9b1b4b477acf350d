// Proves reconnect delays grow exponentially from the minimum, never leave [minMs, maxMs] whatever
// the jitter, and start over after a reset.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { Backoff } from './backoff.js';

const checkProperty = propertyChecker('server/transport/backoff.test.ts');

t.test('delays double up to the cap, with half of each delay jittered', async (t) => {
  const top = new Backoff({ minMs: 50, maxMs: 2000, random: () => 0.999999 });
  t.same(
    Array.from({ length: 8 }, () => top.nextDelayMs()),
    [50, 100, 200, 400, 800, 1600, 2000, 2000],
  );
  const bottom = new Backoff({ minMs: 50, maxMs: 2000, random: () => 0 });
  t.same(
    Array.from({ length: 8 }, () => bottom.nextDelayMs()),
    [50, 50, 100, 200, 400, 800, 1000, 1000],
    'never below the minimum',
  );
  bottom.reset();
  t.equal(bottom.nextDelayMs(), 50, 'a reset starts over');
});

t.test('property: every delay lies within the bounds', async (t) => {
  checkProperty(
    t,
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.array(fc.double({ min: 0, max: 0.9999999, noNaN: true }), { minLength: 1, maxLength: 60 }),
      (minMs, extra, randoms) => {
        const maxMs = minMs + extra;
        let i = 0;
        const b = new Backoff({ minMs, maxMs, random: () => randoms[i++ % randoms.length]! });
        for (let k = 0; k < 80; k++) {
          const d = b.nextDelayMs();
          if (d < minMs || d > maxMs) throw new Error(`delay ${d} outside [${minMs}, ${maxMs}]`);
        }
      },
    ),
    300,
  );
});
