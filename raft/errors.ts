// The consensus core's error catalogue: every error raft throws or returns has a code here.
// Callers branch on `code`, never on message text.

export type RaftErrorCode =
  | 'COMPACTED'
  | 'SNAPSHOT_OUT_OF_DATE'
  | 'UNAVAILABLE'
  | 'SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  | 'PROPOSAL_DROPPED'
  | 'STEP_LOCAL_MSG'
  | 'STEP_PEER_NOT_FOUND'
  | 'CONF_CHANGE_INVALID'
  | 'INVARIANT';

const MESSAGES: Record<RaftErrorCode, string> = {
  COMPACTED: 'requested index is unavailable due to compaction',
  SNAPSHOT_OUT_OF_DATE: 'requested index is older than the existing snapshot',
  UNAVAILABLE: 'requested entry at index is unavailable',
  SNAPSHOT_TEMPORARILY_UNAVAILABLE: 'snapshot is temporarily unavailable',
  PROPOSAL_DROPPED: 'raft proposal dropped',
  STEP_LOCAL_MSG: 'raft: cannot step raft local message',
  STEP_PEER_NOT_FOUND: 'raft: cannot step as peer not found',
  CONF_CHANGE_INVALID: 'raft: invalid configuration change',
  INVARIANT: 'raft: invariant violated',
};

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.code = code;
    this.name = 'RaftError';
  }
}

export function isRaftError(err: unknown, code: RaftErrorCode): boolean {
  return err instanceof RaftError && err.code === code;
}

/** Invariant check: throws when the condition is false. Invariants never depend on input validity. */
export function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new RaftError('INVARIANT', what);
}
