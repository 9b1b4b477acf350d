// etcd's Maintenance service: alarms, status, hashes, defragmentation, leader transfer and the
// snapshot stream. A snapshot is sent in chunks with the bytes still to come, zero-padded to whole
// 512-byte blocks, then a last chunk holding the SHA-256 of everything before it, as etcdctl expects
// (the framing lives in server/snapshot-file.ts, shared with the offline restore).

import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Alarm } from '../../../kv/state-machine.js';
import type { Member } from '../../api.js';
import { ServerError } from '../../api.js';
import { padSnapshot, snapshotChecksum } from '../../snapshot-file.js';
import { headerOut } from '../convert.js';
import { int64, uint64 } from '../int64.js';
import { callSignal, StreamWriter, unary } from '../rpc.js';
import type {
  WireAlarmMember,
  WireAlarmRequest,
  WireHashKVRequest,
  WireHeader,
  WireHeaderOnly,
  WireMoveLeaderRequest,
} from '../wire-types.js';

/** Blob bytes per snapshot message (etcd's chunk size). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

interface WireAlarmResponse {
  readonly header: WireHeader;
  readonly alarms: readonly WireAlarmMember[];
}

interface WireStatusResponse {
  readonly header: WireHeader;
  readonly version: string;
  readonly dbSize: number;
  readonly leader: number;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly dbSizeInUse: number;
  readonly isLearner: boolean;
}

interface WireHashResponse {
  readonly header: WireHeader;
  readonly hash: number;
}

interface WireHashKVResponse extends WireHashResponse {
  readonly compact_revision: number;
}

interface WireSnapshotResponse {
  readonly remaining_bytes: number;
  readonly blob: Uint8Array;
}

function alarmOut(a: Alarm): WireAlarmMember {
  return { memberID: a.memberId, alarm: a.alarm };
}

const same = (a: Alarm, memberId: number, type: Alarm['alarm']): boolean =>
  a.alarm === type && (memberId === 0 || a.memberId === memberId);

export function maintenanceService(member: Member) {
  return {
    Alarm: unary<WireAlarmRequest, WireAlarmResponse>(async (req) => {
      const memberId = uint64(req.memberID, 'memberID');
      const type = req.alarm === 'NOSPACE' || req.alarm === 'CORRUPT' ? req.alarm : null;
      const header = (): WireHeader => headerOut(member.header());
      if (req.action === 'GET') {
        // NONE lists every alarm; a type lists only that type.
        const alarms = member.alarms().filter((a) => type === null || a.alarm === type);
        return { header: header(), alarms: alarms.map(alarmOut) };
      }
      if (req.action !== 'ACTIVATE' && req.action !== 'DEACTIVATE')
        throw new ServerError('INVALID_ARGUMENT', `alarm action: unknown value ${req.action}`);
      // Raising or clearing "no alarm" changes nothing, as in etcd.
      if (type === null) return { header: header(), alarms: [] };
      if (req.action === 'ACTIVATE') {
        const after = await member.alarm('activate', memberId, type);
        return { header: header(), alarms: after.filter((a) => same(a, memberId, type)).map(alarmOut) };
      }
      // etcd answers a deactivation with the alarms it cleared.
      const before = member.alarms().filter((a) => same(a, memberId, type));
      await member.alarm('deactivate', memberId, type);
      return { header: header(), alarms: before.map(alarmOut) };
    }),

    Status: unary<Record<string, never>, WireStatusResponse>(async () => {
      const s = await member.status();
      return {
        header: headerOut(member.header()),
        version: s.version,
        dbSize: s.dbSize,
        leader: s.leader,
        raftIndex: s.raftIndex,
        raftTerm: s.raftTerm,
        raftAppliedIndex: s.raftAppliedIndex,
        errors: s.errors,
        dbSizeInUse: s.dbSizeInUse,
        isLearner: s.isLearner,
      };
    }),

    Defragment: unary<Record<string, never>, WireHeaderOnly>(async () => {
      await member.defragment();
      return { header: headerOut(member.header()) };
    }),

    Hash: unary<Record<string, never>, WireHashResponse>(async () => {
      const hash = await member.hash();
      return { header: headerOut(member.header()), hash };
    }),

    HashKV: unary<WireHashKVRequest, WireHashKVResponse>(async (req) => {
      const r = await member.hashKV(int64(req.revision, 'revision'));
      return {
        header: headerOut(member.header(), r.revision),
        hash: r.hash,
        // -1 for a store never compacted, as in etcd.
        compact_revision: r.compactRevision,
      };
    }),

    MoveLeader: unary<WireMoveLeaderRequest, WireHeaderOnly>(async (req, ctx) => {
      await member.moveLeader(uint64(req.targetID, 'targetID'), ctx);
      return { header: headerOut(member.header()) };
    }),

    Snapshot: (call: ServerWritableStream<Record<string, never>, WireSnapshotResponse>): void => {
      const out = new StreamWriter(call);
      sendSnapshot(member, out, callSignal(call)).then(
        () => out.end(),
        (err: unknown) => out.fail(err),
      );
    },
  };
}

async function sendSnapshot(
  member: Member,
  out: StreamWriter<WireSnapshotResponse>,
  signal: AbortSignal,
): Promise<void> {
  // remaining_bytes needs the total up front, and the member's stream does not announce it.
  const parts: Uint8Array[] = [];
  for await (const part of member.snapshotStream()) {
    if (signal.aborted) return;
    parts.push(part);
  }
  const padded = padSnapshot(parts);
  const total = padded.length;
  let sent = 0;
  while (sent < total) {
    if (signal.aborted) return;
    const blob = padded.subarray(sent, Math.min(sent + SNAPSHOT_CHUNK_BYTES, total));
    sent += blob.length;
    const drained = out.write({ remaining_bytes: total - sent, blob });
    if (drained !== undefined) await drained;
  }
  out.write({ remaining_bytes: 0, blob: snapshotChecksum(padded) });
}
