// Proves every typed allocator failure maps to its documented CNI code, untyped failures to 999, and
// that the error JSON has the spec's exact shape.

import t from 'tap';
import {
  PoolExhaustedError,
  PoolNotFoundError,
  RequestedAddressUnavailableError,
  StoreUnreachableError,
} from './allocator.js';
import { CNI_ERROR_CODES, CniError, errorJson, toCniError } from './errors.js';

t.test('allocator errors map to their codes and keep message and details', async (t) => {
  const mapped = (err: unknown) => {
    const e = toCniError(err);
    return [e.code, e.message, e.details];
  };
  t.same(mapped(new PoolExhaustedError('no free address in range set 0', '10.22.0.0/16')), [
    100,
    'no free address in range set 0',
    '10.22.0.0/16',
  ]);
  t.same(mapped(new StoreUnreachableError('no netcd member answered')), [
    101,
    'no netcd member answered',
    '',
  ]);
  t.same(mapped(new RequestedAddressUnavailableError('10.22.0.5 is taken')), [102, '10.22.0.5 is taken', '']);
  t.same(mapped(new PoolNotFoundError('pool blue does not exist')), [7, 'pool blue does not exist', '']);
  t.same(mapped(new TypeError('x is undefined')), [999, 'x is undefined', '']);
  t.same(mapped('a string'), [999, 'a string', '']);
  const original = new CniError(CNI_ERROR_CODES.TRY_AGAIN_LATER, 'later');
  t.equal(toCniError(original), original, 'a CniError passes through');
  t.equal(new StoreUnreachableError('x').name, 'StoreUnreachableError');
});

t.test('error JSON: cniVersion, code, msg, and details only when there are some', async (t) => {
  t.equal(
    errorJson('1.1.0', new CniError(7, 'missing "ipam" section', 'name')),
    '{"cniVersion":"1.1.0","code":7,"msg":"missing \\"ipam\\" section","details":"name"}\n',
  );
  t.equal(
    errorJson('0.4.0', new CniError(100, 'exhausted')),
    '{"cniVersion":"0.4.0","code":100,"msg":"exhausted"}\n',
  );
});
