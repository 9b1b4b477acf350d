// Typed errors of the client library. Every failure a caller sees is a NetcdError carrying etcd's
// error name (from the wire catalogue) or the gRPC status name, and — what matters for writes —
// whether the request certainly did not take effect ('not-applied') or may have ('unknown').

import { status } from '@grpc/grpc-js';
import { ETCD_ERRORS, type EtcdErrorName } from '../server/proto/errors.js';

/** 'not-applied': the cluster certainly did not act on the request; 'unknown': it may have. */
export type Outcome = 'not-applied' | 'unknown';

export type ErrorCode = EtcdErrorName | keyof typeof status | 'ABORTED_BY_CALLER' | 'LEASE_LOST';

export class NetcdError extends Error {
  readonly code: ErrorCode;
  /** The gRPC status the server (or the channel) ended the call with; undefined for local errors. */
  readonly grpcCode: status | undefined;
  readonly outcome: Outcome;

  constructor(code: ErrorCode, message: string, outcome: Outcome, grpcCode?: status, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NetcdError';
    this.code = code;
    this.grpcCode = grpcCode;
    this.outcome = outcome;
  }
}

/** A read or watch asked for a revision that compaction has removed. */
export class CompactedError extends NetcdError {
  /** The revision the store is compacted to (0 when the server did not say). */
  readonly compactRevision: number;

  constructor(compactRevision: number, message: string = ETCD_ERRORS.COMPACTED[1]) {
    super('COMPACTED', message, 'not-applied', status.OUT_OF_RANGE);
    this.name = 'CompactedError';
    this.compactRevision = compactRevision;
  }
}

/** A lease ran out, was revoked, or could have expired without a confirmed renewal. */
export class LeaseLostError extends NetcdError {
  readonly leaseId: bigint;
  readonly reason: 'expired' | 'revoked' | 'deadline' | 'closed';

  constructor(leaseId: bigint, reason: LeaseLostError['reason']) {
    super('LEASE_LOST', `lease ${leaseId.toString(16)} lost (${reason})`, 'unknown');
    this.name = 'LeaseLostError';
    this.leaseId = leaseId;
    this.reason = reason;
  }
}

/** The caller's AbortSignal fired: the request may or may not have been acted on. */
export function abortedByCaller(reason: unknown): NetcdError {
  return new NetcdError('ABORTED_BY_CALLER', 'request aborted by the caller', 'unknown', undefined, {
    cause: reason,
  });
}

const BY_MESSAGE = new Map<string, EtcdErrorName>(
  (Object.entries(ETCD_ERRORS) as [EtcdErrorName, readonly [status, string]][]).map(([name, [, msg]]) => [
    msg,
    name,
  ]),
);

/**
 * etcd errors raised before a proposal enters the log: the request was certainly not applied,
 * so even a write may be sent again.
 */
const REFUSED_BEFORE_PROPOSAL = new Set<EtcdErrorName>(['NO_LEADER', 'TOO_MANY_REQUESTS', 'NOT_CAPABLE']);

/** Statuses that say the server rejected the request as it stands: retrying cannot help. */
const FINAL_STATUSES = new Set<status>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
  status.UNIMPLEMENTED,
  status.UNAUTHENTICATED,
  status.DATA_LOSS,
]);

interface GrpcLikeError {
  readonly code: number;
  readonly details?: string;
  readonly message: string;
}

function isGrpcError(err: unknown): err is GrpcLikeError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number';
}

function statusName(code: number): keyof typeof status {
  const name = status[code] as keyof typeof status | undefined;
  return name ?? 'UNKNOWN';
}

/**
 * A NetcdError for what a gRPC call failed with. `sent` says whether the request left this
 * process: a failure before that is always 'not-applied'.
 */
export function fromGrpcError(err: unknown, sent: boolean): NetcdError {
  if (err instanceof NetcdError) return err;
  if (!isGrpcError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return new NetcdError('UNKNOWN', message, sent ? 'unknown' : 'not-applied', undefined, { cause: err });
  }
  const details = err.details ?? err.message;
  const etcdName = BY_MESSAGE.get(details);
  if (etcdName === 'COMPACTED') return new CompactedError(0, details);
  if (etcdName !== undefined) {
    const outcome: Outcome =
      !sent || REFUSED_BEFORE_PROPOSAL.has(etcdName) || FINAL_STATUSES.has(err.code)
        ? 'not-applied'
        : 'unknown';
    return new NetcdError(etcdName, details, outcome, err.code, { cause: err });
  }
  const outcome: Outcome = !sent || FINAL_STATUSES.has(err.code) ? 'not-applied' : 'unknown';
  return new NetcdError(statusName(err.code), details, outcome, err.code, { cause: err });
}

/**
 * Whether sending the request again, to this or another member, is safe and may help:
 * idempotent requests (reads) after any transient failure, writes only when not applied.
 */
export function isRetryable(err: NetcdError, idempotent: boolean): boolean {
  if (err.code === 'ABORTED_BY_CALLER' || err.code === 'COMPACTED') return false;
  if (err.grpcCode !== undefined && FINAL_STATUSES.has(err.grpcCode)) return false;
  if (err.grpcCode === status.RESOURCE_EXHAUSTED && err.code !== 'TOO_MANY_REQUESTS') return false;
  if (err.grpcCode === status.CANCELLED) return idempotent;
  return idempotent || err.outcome === 'not-applied';
}
