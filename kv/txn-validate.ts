// Validation of a transaction before it is proposed or applied, with etcd's rules: at most
// maxTxnOps compares and ops per branch, and no key written twice in one branch (puts on the
// same key, or a put inside a deleted range), nested transactions included.

import { KvError } from './errors.js';
import { intervalsOverlap, type KeyInterval, keyInterval } from './keys.js';
import type { RequestOp, TxnRequest } from './types.js';

/** etcd's default --max-txn-ops. */
export const DEFAULT_MAX_TXN_OPS = 128;

export function validateTxn(req: TxnRequest, maxTxnOps: number = DEFAULT_MAX_TXN_OPS): void {
  if (req.compare.length > maxTxnOps || req.success.length > maxTxnOps || req.failure.length > maxTxnOps) {
    throw new KvError('TOO_MANY_OPS');
  }
  for (const c of req.compare) if (c.key.length === 0) throw new KvError('EMPTY_KEY');
  for (const branch of [req.success, req.failure]) {
    for (const op of branch) validateOp(op, maxTxnOps);
    checkIntervals(branch);
  }
}

function validateOp(op: RequestOp, maxTxnOps: number): void {
  if ('range' in op) {
    if (op.range.key.length === 0) throw new KvError('EMPTY_KEY');
  } else if ('put' in op) {
    if (op.put.key.length === 0) throw new KvError('EMPTY_KEY');
    if (op.put.ignoreValue === true && op.put.value.length > 0)
      throw new KvError('BAD_REQUEST', 'value is provided with ignore_value');
    if (op.put.ignoreLease === true && (op.put.lease ?? 0) !== 0)
      throw new KvError('BAD_REQUEST', 'lease is provided with ignore_lease');
  } else if ('deleteRange' in op) {
    if (op.deleteRange.key.length === 0) throw new KvError('EMPTY_KEY');
  } else {
    validateTxn(op.txn, maxTxnOps);
  }
}

/** Puts and deletes of one branch (and the branches of nested txns) must not touch a key twice. */
function checkIntervals(ops: readonly RequestOp[]): { puts: KeyInterval[]; dels: KeyInterval[] } {
  const puts: KeyInterval[] = [];
  const dels: KeyInterval[] = [];
  const addPut = (iv: KeyInterval): void => {
    if (puts.some((p) => p.start === iv.start) || dels.some((d) => intervalsOverlap(d, iv)))
      throw new KvError('DUPLICATE_KEY');
    puts.push(iv);
  };
  for (const op of ops) {
    if ('put' in op) addPut(keyInterval(op.put.key, undefined));
    else if ('deleteRange' in op) dels.push(keyInterval(op.deleteRange.key, op.deleteRange.rangeEnd));
    else if ('txn' in op) {
      // Either branch of a nested txn may run: each is checked against this branch's writes.
      for (const branch of [op.txn.success, op.txn.failure]) {
        const inner = checkIntervals(branch);
        for (const p of inner.puts) {
          if (puts.some((x) => x.start === p.start) || dels.some((d) => intervalsOverlap(d, p)))
            throw new KvError('DUPLICATE_KEY');
        }
        for (const d of inner.dels)
          if (puts.some((p) => intervalsOverlap(d, p))) throw new KvError('DUPLICATE_KEY');
      }
      const a = checkIntervals(op.txn.success);
      const b = checkIntervals(op.txn.failure);
      puts.push(...a.puts, ...b.puts);
      dels.push(...a.dels, ...b.dels);
    }
  }
  // A delete after a put on the same key is also a double write.
  for (const d of dels) {
    for (const p of puts) if (intervalsOverlap(d, p)) throw new KvError('DUPLICATE_KEY');
  }
  return { puts, dels };
}
