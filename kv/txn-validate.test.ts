// Transaction validation follows etcd: op limits, empty keys, and no key written twice in a branch.
import t from 'tap';
import { validatePut, validateTxn } from './txn-validate.js';
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
    { code: 'VALUE_PROVIDED', message: 'value is provided' },
  );
  t.throws(() => validatePut({ key: b('k'), value: new Uint8Array(0), ignoreLease: true, lease: 3 }), {
    code: 'LEASE_PROVIDED',
    message: 'lease is provided',
  });
});

t.test('a nested txn gets what its parent left of the op budget, like etcd', async (t) => {
  const nested = (n: number): RequestOp => ({
    txn: { compare: [], success: Array.from({ length: n }, (_, i) => put(`k${i}`)), failure: [] },
  });
  t.throws(() => validateTxn({ compare: [], success: [nested(128)], failure: [] }), { code: 'TOO_MANY_OPS' });
  t.doesNotThrow(() => validateTxn({ compare: [], success: [nested(127)], failure: [] }));
  t.throws(() => validateTxn({ compare: [], success: [nested(3), put('x')], failure: [] }, 4), {
    code: 'TOO_MANY_OPS',
  });
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
  t.doesNotThrow(
    () => validateTxn({ compare: [], success: [put('z'), del('a', '\0')], failure: [] }),
    'etcd 3.4 reads a from-key delete ("\\0" end) as an empty interval here: it conflicts with nothing',
  );
});

t.test('nested txns: then and else exclude each other; sibling txns are checked as etcd does', async (t) => {
  const dup = { code: 'DUPLICATE_KEY' };
  const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
    txn: { compare: [], success, failure },
  });
  t.doesNotThrow(() => validateTxn({ compare: [], success: [nested([del('a')], [put('a')])], failure: [] }));
  t.doesNotThrow(() => validateTxn({ compare: [], success: [nested([put('a')], [put('a')])], failure: [] }));
  t.doesNotThrow(
    () => validateTxn({ compare: [], success: [nested([put('a')]), nested([del('a')])], failure: [] }),
    "a nested txn's puts are not checked against a later sibling's deletes (etcd)",
  );
  t.throws(
    () => validateTxn({ compare: [], success: [nested([del('a')]), nested([put('a')])], failure: [] }),
    dup,
  );
  t.throws(
    () => validateTxn({ compare: [], success: [nested([put('a')]), nested([], [put('a')])], failure: [] }),
    dup,
  );
  t.throws(
    () => validateTxn({ compare: [], success: [nested([del('a', 'c')]), put('b')], failure: [] }),
    dup,
  );
  t.throws(
    () => validateTxn({ compare: [], success: [del('a', 'c'), nested([put('b')])], failure: [] }),
    dup,
  );
});
