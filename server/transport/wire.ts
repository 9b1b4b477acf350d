// Raft messages on the wire as positional arrays, decoded with a check of every field: a peer's
// frame becomes a well-formed Message or a BAD_FRAME error. The order of MESSAGE_TYPES and of
// each tuple is the wire format: append, never reorder.

import type {
  ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from '../../raft/index.js';
import {
  arrayField as array,
  badFrame as bad,
  boolField as bool,
  bytesField as bytes,
  uintField as uint,
} from './fields.js';

const MESSAGE_TYPES: readonly MessageType[] = [
  'hup',
  'beat',
  'prop',
  'app',
  'appResp',
  'vote',
  'voteResp',
  'preVote',
  'preVoteResp',
  'snap',
  'heartbeat',
  'heartbeatResp',
  'unreachable',
  'snapStatus',
  'checkQuorum',
  'transferLeader',
  'timeoutNow',
  'readIndex',
  'readIndexResp',
];
const MESSAGE_TYPE_CODES: ReadonlyMap<MessageType, number> = new Map(MESSAGE_TYPES.map((t, i) => [t, i]));

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];
const ENTRY_FIELDS = 4;

/** [type, from, to, term, logTerm, index, entries, commit, reject, rejectHint, snapshot, context] */
export type WireMessage = readonly unknown[];

function ids(v: unknown, field: string): number[] {
  return array(v, field).map((id) => uint(id, field));
}

function encodeEntries(entries: readonly Entry[]): unknown[] {
  // Flat: four slots per entry, one array header for the whole batch.
  const flat: unknown[] = new Array(entries.length * ENTRY_FIELDS);
  let i = 0;
  for (const e of entries) {
    flat[i++] = e.term;
    flat[i++] = e.index;
    flat[i++] = e.type === 'normal' ? 0 : 1;
    flat[i++] = e.data;
  }
  return flat;
}

function decodeEntries(v: unknown): Entry[] {
  const flat = array(v, 'entries');
  if (flat.length % ENTRY_FIELDS !== 0) throw bad('entries are not whole');
  const entries: Entry[] = new Array(flat.length / ENTRY_FIELDS);
  for (let i = 0, k = 0; i < flat.length; i += ENTRY_FIELDS, k++) {
    const type = ENTRY_TYPES[uint(flat[i + 2], 'entry type')];
    if (type === undefined) throw bad('unknown entry type');
    entries[k] = {
      term: uint(flat[i], 'entry term'),
      index: uint(flat[i + 1], 'entry index'),
      type,
      data: bytes(flat[i + 3], 'entry data'),
    };
  }
  return entries;
}

function encodeConfState(c: ConfState): unknown[] {
  return [c.voters, c.votersOutgoing, c.learners, c.learnersNext, c.autoLeave];
}

function decodeConfState(v: unknown): ConfState {
  const f = array(v, 'confState', 5);
  return {
    voters: ids(f[0], 'voters'),
    votersOutgoing: ids(f[1], 'votersOutgoing'),
    learners: ids(f[2], 'learners'),
    learnersNext: ids(f[3], 'learnersNext'),
    autoLeave: bool(f[4], 'autoLeave'),
  };
}

/** [index, term, confState] */
export function encodeSnapshotMetadata(m: SnapshotMetadata): unknown[] {
  return [m.index, m.term, encodeConfState(m.confState)];
}

export function decodeSnapshotMetadata(v: unknown): SnapshotMetadata {
  const f = array(v, 'snapshot metadata', 3);
  return {
    index: uint(f[0], 'snapshot index'),
    term: uint(f[1], 'snapshot term'),
    confState: decodeConfState(f[2]),
  };
}

function encodeSnapshot(s: Snapshot | null): unknown {
  return s === null ? null : [encodeSnapshotMetadata(s.metadata), s.data];
}

function decodeSnapshot(v: unknown): Snapshot | null {
  if (v === null) return null;
  const f = array(v, 'snapshot', 2);
  return { metadata: decodeSnapshotMetadata(f[0]), data: bytes(f[1], 'snapshot data') };
}

export function encodeMessage(m: Message): WireMessage {
  return [
    MESSAGE_TYPE_CODES.get(m.type),
    m.from,
    m.to,
    m.term,
    m.logTerm,
    m.index,
    encodeEntries(m.entries),
    m.commit,
    m.reject,
    m.rejectHint,
    encodeSnapshot(m.snapshot),
    m.context,
  ];
}

export function decodeMessage(v: unknown): Message {
  const f = array(v, 'message', 12);
  const type = MESSAGE_TYPES[uint(f[0], 'type')];
  if (type === undefined) throw bad('unknown message type');
  return {
    type,
    from: uint(f[1], 'from'),
    to: uint(f[2], 'to'),
    term: uint(f[3], 'term'),
    logTerm: uint(f[4], 'logTerm'),
    index: uint(f[5], 'index'),
    entries: decodeEntries(f[6]),
    commit: uint(f[7], 'commit'),
    reject: bool(f[8], 'reject'),
    rejectHint: uint(f[9], 'rejectHint'),
    snapshot: decodeSnapshot(f[10]),
    context: bytes(f[11], 'context'),
  };
}
