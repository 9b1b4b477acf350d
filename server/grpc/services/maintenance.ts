// etcd's Maintenance service: alarms, status, hashes, defragmentation, leader transfer and the
// snapshot stream. A snapshot is sent in chunks with the bytes still to come, zero-padded to whole
// 512-byte blocks, then a last chunk holding the SHA-256 of everything before it, as etcdctl expects.

import { createHash } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Alarm } from '../../../kv/state-machine.js';
import type { Member } from '../../api.js';
import { ServerError } from '../../api.js';
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
/**
 * The snapshot is zero-padded to a multiple of this before its checksum: etcd's files are whole
 * database pages, and etcdctl refuses a download whose size is not n * 512 + 32. A reader of the
 * file drops the last 32 bytes (the SHA-256 of all before) and must ignore trailing zero bytes.
 */
export const SNAPSHOT_ALIGN_BYTES = 512;

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
  let size = 0;
  for await (const part of member.snapshotStream()) {
    if (signal.aborted) return;
    parts.push(part);
    size += part.length;
  }
  const total = Math.ceil(size / SNAPSHOT_ALIGN_BYTES) * SNAPSHOT_ALIGN_BYTES;
  const padded = Buffer.alloc(total);
  let at = 0;
  for (const part of parts) {
    padded.set(part, at);
    at += part.length;
  }
  let sent = 0;
  while (sent < total) {
    if (signal.aborted) return;
    const blob = padded.subarray(sent, Math.min(sent + SNAPSHOT_CHUNK_BYTES, total));
    sent += blob.length;
    const drained = out.write({ remaining_bytes: total - sent, blob });
    if (drained !== undefined) await drained;
  }
  out.write({ remaining_bytes: 0, blob: createHash('sha256').update(padded).digest() });
}
