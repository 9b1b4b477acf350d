// The kv layer's error catalogue. Messages are etcd's own strings (without the "etcdserver: "
// prefix the server adds), so clients that match on them keep working; the server maps codes to
// gRPC status codes in one place.

export type KvErrorCode =
  | 'COMPACTED'
  | 'FUTURE_REV'
  | 'TOO_MANY_OPS'
  | 'DUPLICATE_KEY'
  | 'KEY_NOT_FOUND'
  | 'LEASE_NOT_FOUND'
  | 'LEASE_EXISTS'
  | 'LEASE_TTL_TOO_LARGE'
  | 'LEASE_NOT_PRIMARY'
  | 'NO_SPACE'
  | 'REQUEST_TOO_LARGE'
  | 'RESPONSE_TOO_LARGE'
  | 'EMPTY_KEY'
  | 'BAD_REQUEST'
  | 'VALUE_PROVIDED'
  | 'LEASE_PROVIDED'
  | 'CORRUPT'
  | 'WATCH_EMPTY_RANGE'
  | 'WATCH_DUPLICATE_ID'
  | 'WATCH_INVARIANT';

const MESSAGES: Record<KvErrorCode, string> = {
  COMPACTED: 'mvcc: required revision has been compacted',
  FUTURE_REV: 'mvcc: required revision is a future revision',
  TOO_MANY_OPS: 'too many operations in txn request',
  DUPLICATE_KEY: 'duplicate key given in txn request',
  KEY_NOT_FOUND: 'key not found',
  LEASE_NOT_FOUND: 'requested lease not found',
  LEASE_EXISTS: 'lease already exists',
  LEASE_TTL_TOO_LARGE: 'too large lease TTL',
  /** A keep-alive reached a member that is not (or no longer) the leader; the server forwards or retries. */
  LEASE_NOT_PRIMARY: 'not a primary lessor',
  NO_SPACE: 'mvcc: database space exceeded',
  REQUEST_TOO_LARGE: 'request is too large',
  /**
   * A read whose response would exceed the send bound: gRPC's own refusal in etcd (status
   * RESOURCE_EXHAUSTED), with the sizes as detail.
   */
  RESPONSE_TOO_LARGE: 'grpc: trying to send message larger than max',
  EMPTY_KEY: 'key is not provided',
  BAD_REQUEST: 'invalid request',
  /** A put with ignore_value that also carries a value. */
  VALUE_PROVIDED: 'value is provided',
  /** A put with ignore_lease that also names a lease. */
  LEASE_PROVIDED: 'lease is provided',
  CORRUPT: 'mvcc: corrupt data',
  /** A watch whose range end is not above its key. */
  WATCH_EMPTY_RANGE: 'mvcc: watcher range is empty',
  /** A watch id the caller chose is already in use. */
  WATCH_DUPLICATE_ID: 'mvcc: duplicate watch ID provided on the WatchStream',
  /** The store broke the watch hub's contract (notify order, eventsBetween results): a bug, not input. */
  WATCH_INVARIANT: 'mvcc: watch invariant violated',
};

export class KvError extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.code = code;
    this.name = 'KvError';
  }
}

export function isKvError(err: unknown, code?: KvErrorCode): err is KvError {
  return err instanceof KvError && (code === undefined || err.code === code);
}

/** etcd's message for a code, for callers that need the bare string. */
export function kvErrorMessage(code: KvErrorCode): string {
  return MESSAGES[code];
}
