// Transaction validation follows etcd: op limits, empty keys, and no key written twice in a branch.
import t from 'tap';
import { validateTxn } from './txn-validate.js';
import type { RequestOp } from './types.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const put = (k: string): RequestOp => ({ put: { key: b(k), value: b('v') } });
const del = (k: string, end?: string): RequestOp => ({
  deleteRange: end === undefined ? { key: b(k) } : { key: b(k), rangeEnd: b(end) },
});

t.test('limits and empty keys', async (t) => {
  const many = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
  t.throws(() => validateTxn({ compare: [], success: many, failure: [] }), {
    code: 'TOO_MANY_OPS',
    message: 'too many operations in txn request',
  });
  t.doesNotThrow(() =>
    validateTxn({ compare: [], success: many.slice(0, 128), failure: many.slice(0, 128) }),
  );
  t.throws(() => validateTxn({ compare: [], success: many.slice(0, 3), failure: [] }, 2), {
    code: 'TOO_MANY_OPS',
  });
  t.throws(() => validateTxn({ compare: [], success: [put('')], failure: [] }), { code: 'EMPTY_KEY' });
  t.throws(
    () =>
      validateTxn({
        compare: [{ key: new Uint8Array(0), target: 'version', result: 'equal' }],
        success: [],
        failure: [],
      }),
    { code: 'EMPTY_KEY' },
  );
  t.throws(
    () =>
      validateTxn({
        compare: [],
        success: [{ put: { key: b('k'), value: b('x'), ignoreValue: true } }],
        failure: [],
      }),
    { code: 'BAD_REQUEST' },
  );
});

t.test('a key written twice in one branch is refused; across branches it is fine', async (t) => {
  const dup = { code: 'DUPLICATE_KEY', message: 'duplicate key given in txn request' };
  t.throws(() => validateTxn({ compare: [], success: [put('a'), put('a')], failure: [] }), dup);
  t.throws(() => validateTxn({ compare: [], success: [put('b'), del('a', 'c')], failure: [] }), dup);
  t.throws(() => validateTxn({ compare: [], success: [del('a', 'c'), put('b')], failure: [] }), dup);
  t.throws(
    () =>
      validateTxn({
        compare: [],
        success: [put('a'), { txn: { compare: [], success: [put('a')], failure: [] } }],
        failure: [],
      }),
    dup,
  );
  t.doesNotThrow(() => validateTxn({ compare: [], success: [put('a')], failure: [put('a')] }));
  t.doesNotThrow(
    () => validateTxn({ compare: [], success: [put('a'), del('b', 'c'), del('b')], failure: [] }),
    'overlapping deletes are allowed',
  );
  t.doesNotThrow(
    () => validateTxn({ compare: [], success: [put('c'), del('a', 'c')], failure: [] }),
    'range end is exclusive',
  );
  t.throws(() => validateTxn({ compare: [], success: [put('z'), del('a', '\0')], failure: [] }), dup);
});
