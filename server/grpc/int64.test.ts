// Proves the 64-bit conversions are exact or refuse: every value within ±(2^53 - 1) converts to the
// same number, anything beyond (or malformed) is INVALID_ARGUMENT, and negatives only where allowed.

import fc from 'fast-check';
import t from 'tap';
import { isServerError } from '../api.js';
import { int64, nonNegative, uint64 } from './int64.js';

const refuses = (f: () => unknown): boolean => {
  try {
    f();
    return false;
  } catch (err) {
    return isServerError(err) && err.code === 'INVALID_ARGUMENT';
  }
};

t.test('exact within the safe range, from strings and numbers', async (t) => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => int64(String(n), 'f') === n && int64(n, 'f') === n),
    { seed: 42 },
  );
  t.equal(int64('', 'f'), 0);
  t.equal(int64(null, 'f'), 0);
  t.equal(int64(undefined, 'f'), 0);
  t.equal(int64('9007199254740991', 'f'), Number.MAX_SAFE_INTEGER);
  t.equal(int64('-9007199254740991', 'f'), -Number.MAX_SAFE_INTEGER);
  t.equal(uint64('0', 'f'), 0);
});

t.test('refused beyond 2^53 - 1, malformed, or negative where not allowed', async (t) => {
  for (const bad of [
    '9007199254740992',
    '-9007199254740992',
    '18446744073709551615',
    '1e3',
    '0x10',
    'abc',
    '1.5',
  ]) {
    t.ok(
      refuses(() => int64(bad, 'f')),
      bad,
    );
  }
  t.ok(refuses(() => int64(2 ** 60, 'f')));
  t.ok(refuses(() => int64(0.5, 'f')));
  t.ok(refuses(() => nonNegative('-1', 'f')));
  t.ok(refuses(() => uint64('-5', 'f')));
  try {
    int64('9007199254740993', 'revision');
  } catch (err) {
    t.match(String((err as Error).message), /^revision: 9007199254740993 is outside/);
  }
});
