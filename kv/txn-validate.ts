// Validation of requests before they are proposed or applied, with etcd 3.4's rules (its gRPC
// layer's checkPutRequest, checkTxnRequest and checkIntervals, in the same order): at most
// maxTxnOps compares and ops per branch, a nested txn within what its parent left of that budget,
// keys present, no value or lease beside ignore_value / ignore_lease, and no key written twice in
// a branch — where, as in etcd, the then and else branches of a nested txn exclude each other.

import { KvError } from './errors.js';
import { inInterval, type KeyInterval, keyInterval, keyString } from './keys.js';
import type { DeleteRangeRequest, PutRequest, RequestOp, TxnRequest } from './types.js';

/** etcd's default --max-txn-ops. */
export const DEFAULT_MAX_TXN_OPS = 128;

export function validateTxn(req: TxnRequest, maxTxnOps: number = DEFAULT_MAX_TXN_OPS): void {
  checkShape(req, maxTxnOps);
  // Double writes only once the whole request is well formed, as etcd (the check is quadratic).
  checkIntervals(req.success);
  checkIntervals(req.failure);
}

/** etcd's checks of a put before it is proposed: a key, and no value or lease beside the ignore flags. */
export function validatePut(req: PutRequest): void {
  if (req.key.length === 0) throw new KvError('EMPTY_KEY');
  if (req.ignoreValue === true && req.value.length > 0) throw new KvError('VALUE_PROVIDED');
  if (req.ignoreLease === true && (req.lease ?? 0) !== 0) throw new KvError('LEASE_PROVIDED');
}

function checkShape(req: TxnRequest, maxTxnOps: number): void {
  const opCount = Math.max(req.compare.length, req.success.length, req.failure.length);
  if (opCount > maxTxnOps) throw new KvError('TOO_MANY_OPS');
  for (const c of req.compare) if (c.key.length === 0) throw new KvError('EMPTY_KEY');
  // A nested txn may use only what this level left of the budget.
  for (const op of [...req.success, ...req.failure]) checkOp(op, maxTxnOps - opCount);
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  if ('range' in op) {
    if (op.range.key.length === 0) throw new KvError('EMPTY_KEY');
  } else if ('put' in op) {
    validatePut(op.put);
  } else if ('deleteRange' in op) {
    if (op.deleteRange.key.length === 0) throw new KvError('EMPTY_KEY');
  } else {
    checkShape(op.txn, maxTxnOps);
  }
}

/**
 * The keys a delete covers for the double-write check. A from-key delete (range end "\0") covers
 * none: etcd 3.4 takes "\0" literally here, as an end before the start, so it never conflicts.
 */
function deleteInterval(req: DeleteRangeRequest): KeyInterval | null {
  const end = req.rangeEnd;
  if (end !== undefined && end.length === 1 && end[0] === 0) return null;
  return keyInterval(req.key, end);
}

interface Writes {
  readonly puts: Set<string>;
  readonly dels: KeyInterval[];
}

/**
 * etcd's checkIntervals, step for step: this level's deletes first; then each nested txn's puts
 * against the puts and deletes gathered so far (its then and else branches may put the same key)
 * before its deletes join them; last this level's puts against all of it.
 */
function checkIntervals(ops: readonly RequestOp[]): Writes {
  const dels: KeyInterval[] = [];
  for (const op of ops) {
    const iv = 'deleteRange' in op ? deleteInterval(op.deleteRange) : null;
    if (iv !== null) dels.push(iv);
  }
  const deleted = (k: string): boolean => dels.some((d) => inInterval(k, d));
  const puts = new Set<string>();
  for (const op of ops) {
    if (!('txn' in op)) continue;
    const then = checkIntervals(op.txn.success);
    const otherwise = checkIntervals(op.txn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(k)) throw new KvError('DUPLICATE_KEY');
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if ((puts.has(k) && !then.puts.has(k)) || deleted(k)) throw new KvError('DUPLICATE_KEY');
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!('put' in op)) continue;
    const k = keyString(op.put.key);
    if (puts.has(k) || deleted(k)) throw new KvError('DUPLICATE_KEY');
    puts.add(k);
  }
  return { puts, dels };
}
