// etcd's KV service: Range is answered by the member (linearizable unless serializable), writes
// and Compact go through member.propose. Every response header carries the member's identity and
// the revision of the result, as etcd reports it.

import { validatePut } from '../../../kv/txn-validate.js';
import type { Member } from '../../api.js';
import {
  deleteRangeRequestIn,
  deleteRangeResponseOut,
  headerOut,
  putRequestIn,
  putResponseOut,
  rangeRequestIn,
  rangeResponseOut,
  txnRequestIn,
  txnResponseOut,
} from '../convert.js';
import { etcdError, unexpectedResult } from '../errors.js';
import { int64 } from '../int64.js';
import { checkRequestSize, unary } from '../rpc.js';
import type {
  WireCompactionRequest,
  WireDeleteRangeRequest,
  WireDeleteRangeResponse,
  WireHeaderOnly,
  WirePutRequest,
  WirePutResponse,
  WireRangeRequest,
  WireRangeResponse,
  WireTxnRequest,
  WireTxnResponse,
} from '../wire-types.js';

export function kvService(member: Member) {
  return {
    Range: unary<WireRangeRequest, WireRangeResponse>(async (req, ctx) => {
      const r = await member.range(rangeRequestIn(req), ctx);
      return rangeResponseOut(r, headerOut(member.header(), r.revision));
    }),

    Put: unary<WirePutRequest, WirePutResponse>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      const put = putRequestIn(req);
      // etcd's checks before a put is proposed; the apply repeats them.
      validatePut(put);
      const res = await member.propose({ put }, ctx);
      if (!('put' in res)) throw unexpectedResult('put', res);
      return putResponseOut(res.put, headerOut(member.header(), res.put.revision));
    }),

    DeleteRange: unary<WireDeleteRangeRequest, WireDeleteRangeResponse>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      const deleteRange = deleteRangeRequestIn(req);
      if (deleteRange.key.length === 0) throw etcdError('EMPTY_KEY');
      const res = await member.propose({ deleteRange }, ctx);
      if (!('deleteRange' in res)) throw unexpectedResult('deleteRange', res);
      return deleteRangeResponseOut(res.deleteRange, headerOut(member.header(), res.deleteRange.revision));
    }),

    Txn: unary<WireTxnRequest, WireTxnResponse>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      // Limits (ops per txn, duplicate keys) are checked by the apply, with the cluster's settings.
      const res = await member.propose({ txn: txnRequestIn(req) }, ctx);
      if (!('txn' in res)) throw unexpectedResult('txn', res);
      return txnResponseOut(res.txn, headerOut(member.header(), res.txn.revision));
    }),

    Compact: unary<WireCompactionRequest, WireHeaderOnly>(async (req, ctx) => {
      // The compaction runs inside the apply, so once proposed it is physically done too.
      const revision = int64(req.revision, 'revision');
      const res = await member.propose({ compaction: { revision, physical: req.physical } }, ctx);
      if (!('compaction' in res)) throw unexpectedResult('compaction', res);
      return { header: headerOut(member.header(), res.compaction.revision) };
    }),
  };
}
