// etcd's server-side Lock service (v3lockpb). A caller joins the queue under name + "/" with a key
// named after its lease, created only if absent (so locking twice with one lease is one
// acquisition), and owns the lock once every older key is gone. A caller that gives up while
// waiting takes its key out of the queue again.

import type { TxnRequest } from '../../../kv/types.js';
import type { Member } from '../../api.js';
import { headerOut } from '../convert.js';
import { etcdError, unexpectedResult } from '../errors.js';
import { int64 } from '../int64.js';
import { checkRequestSize, unary } from '../rpc.js';
import type { WireHeader, WireHeaderOnly, WireLockRequest, WireUnlockRequest } from '../wire-types.js';
import {
  contenderKey,
  keepLeaseAlive,
  prefixRange,
  queuePrefix,
  sessionLease,
  waitDeletes,
  waitScope,
} from './key-queue.js';

interface WireLockResponse {
  readonly header: WireHeader;
  readonly key: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function lockService(member: Member) {
  return {
    Lock: unary<WireLockRequest, WireLockResponse>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      const lease = await sessionLease(member, int64(req.lease, 'lease'), ctx);
      const prefix = queuePrefix(req.name);
      const key = contenderKey(prefix, lease);
      const head = { ...prefixRange(prefix), sortTarget: 'create', sortOrder: 'ascend', limit: 1 } as const;
      const join: TxnRequest = {
        compare: [{ key, target: 'create', result: 'equal', createRevision: 0 }],
        success: [{ put: { key, value: EMPTY, lease } }, { range: head }],
        // Already queued with this lease: keep the place it has.
        failure: [{ range: { key } }, { range: head }],
      };
      const res = await member.propose({ txn: join }, ctx);
      if (!('txn' in res)) throw unexpectedResult('txn', res);
      const txn = res.txn;
      const [mine, owner] = txn.responses;
      if (mine === undefined || owner === undefined || !('range' in owner))
        throw unexpectedResult('lock txn', res);
      const queued = 'range' in mine ? mine.range.kvs[0] : undefined;
      if (!txn.succeeded && queued === undefined) throw unexpectedResult('lock txn', res);
      const myRevision = txn.succeeded ? txn.revision : (queued?.createRevision ?? 0);
      const first = owner.range.kvs[0];
      if (first === undefined || first.createRevision === myRevision) {
        return { header: headerOut(member.header(), txn.revision), key };
      }
      const waiting = waitScope(ctx.signal);
      keepLeaseAlive(member, lease, waiting.signal);
      try {
        const revision = await waitDeletes(member, prefix, myRevision - 1, waiting.signal);
        return { header: headerOut(member.header(), revision), key };
      } catch (err) {
        // Leave the queue so those behind are not blocked by a caller that is gone.
        await member.propose({ deleteRange: { key } }).catch(() => undefined);
        throw err;
      } finally {
        waiting.done();
      }
    }),

    Unlock: unary<WireUnlockRequest, WireHeaderOnly>(async (req, ctx) => {
      if (req.key.length === 0) throw etcdError('EMPTY_KEY');
      const res = await member.propose({ deleteRange: { key: new Uint8Array(req.key) } }, ctx);
      if (!('deleteRange' in res)) throw unexpectedResult('deleteRange', res);
      return { header: headerOut(member.header(), res.deleteRange.revision) };
    }),
  };
}
