// Test helper: runs a function and names the kv error it threw ('ok' when it returned).

import { isKvError, type KvErrorCode } from '../errors.js';

export function kvErrorCodeOf(fn: () => unknown): KvErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (isKvError(err)) return err.code;
    throw err;
  }
}
