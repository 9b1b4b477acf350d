// Wire and state types of the consensus core. Plain data only: everything here can be
// cloned, serialised by the transport, and printed in transcripts.

/** Node ids are positive integers; 0 means "nobody". */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** For `normal`: application bytes (empty = no-op). For `confChange`: an encoded ConfChange. */
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export type StateRole = 'follower' | 'candidate' | 'preCandidate' | 'leader';

export interface SoftState {
  readonly lead: NodeId;
  readonly role: StateRole;
}

/** Membership: voters of the incoming (and, in a joint config, outgoing) config and learners. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Learners that become voters once the joint config is left (demoted voters). */
  readonly learnersNext: readonly NodeId[];
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addNode' | 'removeNode' | 'addLearner';

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * How a multi-change is carried out: `auto` picks simple for one change and joint with
 * auto-leave for several; `jointImplicit` and `jointExplicit` always go through a joint config
 * (explicit leaves only when an empty ConfChange is proposed).
 */
export type ConfChangeTransition = 'auto' | 'jointImplicit' | 'jointExplicit';

export interface ConfChange {
  readonly transition: ConfChangeTransition;
  /** Empty `changes` means "leave the joint config". */
  readonly changes: readonly ConfChangeSingle[];
  readonly context: Uint8Array;
}

export type MessageType =
  | 'hup'
  | 'beat'
  | 'prop'
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'unreachable'
  | 'snapStatus'
  | 'checkQuorum'
  | 'transferLeader'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp';

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** Term of the entry at `index` (app), or of the candidate's last entry (vote). */
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** On a rejected append: the follower's hint of where the logs may match. */
  readonly rejectHint: number;
  readonly snapshot: Snapshot | null;
  /** Opaque context: read-index request ids, campaign kind for transfers. */
  readonly context: Uint8Array;
}

export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

export interface Ready {
  /** Present when it changed since the last Ready. */
  readonly softState: SoftState | null;
  /** Present when it changed since the last Ready: persist it before sending `messages`. */
  readonly hardState: HardState | null;
  /** Entries to persist before sending `messages`. */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and apply. */
  readonly snapshot: Snapshot | null;
  /** Entries committed by the cluster, to apply to the state machine in order. */
  readonly committedEntries: readonly Entry[];
  /** Messages to send after the entries and hard state are durable. */
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Whether the entries/hardState must be fsync'd (false when only commit moved). */
  readonly mustSync: boolean;
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export function emptyHardState(): HardState {
  return { term: 0, vote: NONE, commit: 0 };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function emptyConfState(): ConfState {
  return { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: EMPTY_BYTES };
}

export function isEmptySnapshot(s: Snapshot | null): boolean {
  return s === null || s.metadata.index === 0;
}

/** Builds a message with defaults for every field not given. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: null,
    context: EMPTY_BYTES,
    ...fields,
  };
}

/** Local messages never cross the network. */
export function isLocalMessage(t: MessageType): boolean {
  return t === 'hup' || t === 'beat' || t === 'unreachable' || t === 'snapStatus' || t === 'checkQuorum';
}

export function isResponseMessage(t: MessageType): boolean {
  return (
    t === 'appResp' || t === 'voteResp' || t === 'heartbeatResp' || t === 'unreachable' || t === 'preVoteResp'
  );
}

/** Approximate payload size used for message byte limits. */
export function entrySizeBytes(e: Entry): number {
  return e.data.length + 24;
}

/** The vote response type for a vote request type. */
export function voteRespType(t: MessageType): MessageType {
  return t === 'preVote' ? 'preVoteResp' : 'voteResp';
}
