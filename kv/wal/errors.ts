// The raft log's error catalogue (WAL and level-backed log alike). Callers branch on `code`;
// messages are one line and name the file and byte offset where a record was rejected.

export type WalErrorCode =
  | 'CORRUPT'
  | 'RECORD_TOO_LARGE'
  | 'BATCH_TOO_LARGE'
  | 'FAILED'
  | 'CLOSED'
  | 'BAD_OPTION';

const MESSAGES: Record<WalErrorCode, string> = {
  CORRUPT: 'wal: corrupt log',
  RECORD_TOO_LARGE: 'wal: record too large',
  BATCH_TOO_LARGE: 'wal: batch too large',
  FAILED: 'wal: an earlier write or fsync failed; the log must be reopened',
  CLOSED: 'wal: log is closed',
  BAD_OPTION: 'wal: invalid option',
};

export class WalError extends Error {
  readonly code: WalErrorCode;
  constructor(code: WalErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`, options);
    this.code = code;
    this.name = 'WalError';
  }
}

export function isWalError(err: unknown, code?: WalErrorCode): err is WalError {
  return err instanceof WalError && (code === undefined || err.code === code);
}
