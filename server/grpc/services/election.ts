// etcd's server-side Election service (v3electionpb). Candidates queue under name + "/" like lock
// contenders; the key with the lowest create revision leads and its value is the proclamation.
// Proclaim and Resign act only while the key still has the create revision the leader got, so a
// leader that lost its key cannot overwrite its successor. Errors the election itself raises
// carry etcd's texts with status UNKNOWN, as etcd's server sends them.

import type { ServerWritableStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { KeyValue } from '../../../kv/types.js';
import type { Member } from '../../api.js';
import { headerOut, keyValueOut } from '../convert.js';
import { RpcError, unexpectedResult } from '../errors.js';
import { int64 } from '../int64.js';
import { callSignal, checkRequestSize, StreamWriter, unary } from '../rpc.js';
import type {
  WireCampaignRequest,
  WireHeader,
  WireHeaderOnly,
  WireKeyValue,
  WireLeaderKey,
  WireLeaderRequest,
  WireProclaimRequest,
  WireResignRequest,
} from '../wire-types.js';
import { HubSubscription } from './hub-subscription.js';
import {
  contenderKey,
  keepLeaseAlive,
  prefixRange,
  queueHead,
  queuePrefix,
  sessionLease,
  waitDeletes,
  waitScope,
} from './key-queue.js';

export const ELECTION_ERRORS = {
  MISSING_LEADER: '"leader" field must be provided',
  NOT_LEADER: 'election: not leader',
  NO_LEADER: 'election: no leader',
} as const;

const electionError = (message: string): RpcError => new RpcError(status.UNKNOWN, message);

interface WireLeaderKeyOut {
  readonly name: Uint8Array;
  readonly key: Uint8Array;
  readonly rev: number;
  readonly lease: number;
}

interface WireCampaignResponse {
  readonly header: WireHeader;
  readonly leader: WireLeaderKeyOut;
}

interface WireLeaderResponse {
  readonly header: WireHeader;
  readonly kv: WireKeyValue;
}

interface Leadership {
  readonly key: Uint8Array;
  readonly rev: number;
  readonly lease: number;
}

function leadershipIn(leader: WireLeaderKey | null | undefined): Leadership {
  if (leader === null || leader === undefined) throw electionError(ELECTION_ERRORS.MISSING_LEADER);
  return {
    key: new Uint8Array(leader.key),
    rev: int64(leader.rev, 'leader.rev'),
    lease: int64(leader.lease, 'leader.lease'),
  };
}

export function electionService(member: Member) {
  /** Writes `value` to the leader key if it is still the leader's; returns the txn's revision. */
  const proclaim = async (l: Leadership, value: Uint8Array, signal: AbortSignal): Promise<number> => {
    const res = await member.propose(
      {
        txn: {
          compare: [{ key: l.key, target: 'create', result: 'equal', createRevision: l.rev }],
          success: [{ put: { key: l.key, value, lease: l.lease } }],
          failure: [],
        },
      },
      { signal },
    );
    if (!('txn' in res)) throw unexpectedResult('txn', res);
    if (!res.txn.succeeded) throw electionError(ELECTION_ERRORS.NOT_LEADER);
    return res.txn.revision;
  };

  const resign = async (l: Leadership, signal?: AbortSignal): Promise<number> => {
    const res = await member.propose(
      {
        txn: {
          compare: [{ key: l.key, target: 'create', result: 'equal', createRevision: l.rev }],
          success: [{ deleteRange: { key: l.key } }],
          failure: [],
        },
      },
      signal === undefined ? {} : { signal },
    );
    if (!('txn' in res)) throw unexpectedResult('txn', res);
    return res.txn.revision;
  };

  return {
    Campaign: unary<WireCampaignRequest, WireCampaignResponse>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      const lease = await sessionLease(member, int64(req.lease, 'lease'), ctx);
      const prefix = queuePrefix(req.name);
      const key = contenderKey(prefix, lease);
      const value = new Uint8Array(req.value);
      const res = await member.propose(
        {
          txn: {
            compare: [{ key, target: 'create', result: 'equal', createRevision: 0 }],
            success: [{ put: { key, value, lease } }],
            failure: [{ range: { key } }],
          },
        },
        ctx,
      );
      if (!('txn' in res)) throw unexpectedResult('txn', res);
      const txnRevision = res.txn.revision;
      let rev = txnRevision;
      const leadership = (): Leadership => ({ key, rev, lease });
      if (!res.txn.succeeded) {
        // Already a candidate with this lease: keep the place, but announce the new value.
        const op = res.txn.responses[0];
        const existing = op !== undefined && 'range' in op ? op.range.kvs[0] : undefined;
        if (existing === undefined) throw unexpectedResult('campaign txn', res);
        rev = existing.createRevision;
        if (Buffer.compare(existing.value, value) !== 0) {
          try {
            await proclaim(leadership(), value, ctx.signal);
          } catch (err) {
            await resign(leadership()).catch(() => undefined);
            throw err;
          }
        }
      }
      const waiting = waitScope(ctx.signal);
      keepLeaseAlive(member, lease, waiting.signal);
      try {
        await waitDeletes(member, prefix, rev - 1, waiting.signal);
      } catch (err) {
        if (ctx.signal.aborted) await resign(leadership()).catch(() => undefined);
        throw err;
      } finally {
        waiting.done();
      }
      return {
        header: headerOut(member.header(), txnRevision),
        leader: { name: req.name, key, rev, lease },
      };
    }),

    Proclaim: unary<WireProclaimRequest, WireHeaderOnly>(async (req, ctx) => {
      checkRequestSize(req, member.maxRequestBytes);
      const revision = await proclaim(leadershipIn(req.leader), new Uint8Array(req.value), ctx.signal);
      return { header: headerOut(member.header(), revision) };
    }),

    Resign: unary<WireResignRequest, WireHeaderOnly>(async (req, ctx) => {
      const revision = await resign(leadershipIn(req.leader), ctx.signal);
      return { header: headerOut(member.header(), revision) };
    }),

    Leader: unary<WireLeaderRequest, WireLeaderResponse>(async (req, ctx) => {
      const { head, revision } = await queueHead(member, queuePrefix(req.name), ctx);
      if (head === undefined) throw electionError(ELECTION_ERRORS.NO_LEADER);
      return { header: headerOut(member.header(), revision), kv: keyValueOut(head) };
    }),

    Observe: (call: ServerWritableStream<WireLeaderRequest, WireLeaderResponse>): void => {
      const out = new StreamWriter(call);
      const signal = callSignal(call);
      observe(member, queuePrefix(call.request.name), out, signal).then(
        () => out.end(),
        (err: unknown) => (signal.aborted ? undefined : out.fail(err)),
      );
    },
  };
}

/**
 * Streams each leader's proclamations: the current leader's value, then every change to it, and
 * when its key goes, the next leader's, and so on until the call ends.
 */
async function observe(
  member: Member,
  prefix: Uint8Array,
  out: StreamWriter<WireLeaderResponse>,
  signal: AbortSignal,
): Promise<void> {
  const send = async (kv: KeyValue, revision: number): Promise<void> => {
    const drained = out.write({ header: headerOut(member.header(), revision), kv: keyValueOut(kv) });
    if (drained !== undefined) await drained;
  };
  while (!signal.aborted && !out.closed) {
    const { head, revision } = await queueHead(member, prefix, { signal });
    let leader = head;
    let leaderRevision = revision;
    if (leader === undefined) {
      const found = await firstPut(member, prefix, revision + 1, signal);
      if (found === null) continue;
      leader = found;
      leaderRevision = found.modRevision;
    }
    await send(leader, leaderRevision);
    const sub = new HubSubscription(member.watchHub, { key: leader.key, startRevision: leaderRevision + 1 });
    try {
      let deleted = false;
      while (!deleted) {
        const resp = await sub.next(signal);
        if (resp.canceled === true) break;
        for (const ev of resp.events) {
          if (ev.type === 'delete') {
            deleted = true;
            break;
          }
          await send(ev.kv, resp.revision);
        }
      }
    } finally {
      sub.close();
    }
  }
}

/** The first key put under `prefix` from `fromRevision` on; null when the watch ended first. */
async function firstPut(
  member: Member,
  prefix: Uint8Array,
  fromRevision: number,
  signal: AbortSignal,
): Promise<KeyValue | null> {
  const sub = new HubSubscription(member.watchHub, {
    ...prefixRange(prefix),
    startRevision: fromRevision,
    noDelete: true,
  });
  try {
    for (;;) {
      const resp = await sub.next(signal);
      if (resp.canceled === true) return null;
      const put = resp.events[0];
      if (put !== undefined) return put.kv;
    }
  } finally {
    sub.close();
  }
}
