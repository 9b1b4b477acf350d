// One member's Prometheus metrics in a registry of its own (several members can share a process in
// tests). Names are etcd's where etcd has the metric, so existing dashboards and alerts work; the rest
// are netcd_*. Values that are cheaper to read than to track are filled by collectors at scrape time.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ETCD_API_VERSION } from './config.js';

export interface ServerMetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC) from prom-client. Default true. */
  readonly processMetrics?: boolean;
  /** Value of etcd_server_version's server_version label. Default the etcd API version netcd speaks. */
  readonly serverVersion?: string;
}

/** Fills gauges just before a scrape; may be async. */
export type MetricsCollector = () => void | Promise<void>;

export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** etcd's buckets for disk latencies: 1 ms doubling to about 8 s. */
const DISK_BUCKETS_SECONDS = exponentialBuckets(0.001, 2, 14);
/** Applying one entry is in-memory work: 100 µs doubling to about 3 s. */
const APPLY_BUCKETS_SECONDS = exponentialBuckets(0.0001, 2, 16);

const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/** The grpc_code label value for a status code, spelled as Go's grpc (and so etcd's dashboards) spell it. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `Code(${code})`;
}

export class ServerMetrics {
  readonly registry = new Registry();

  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  /** Set to the raft commit index, as etcd does. */
  readonly proposalsCommitted: Gauge;
  /** Set to the applied index. */
  readonly proposalsApplied: Gauge;
  readonly proposalsPending: Gauge;
  readonly proposalsFailed: Counter;
  readonly raftTerm: Gauge;
  readonly quotaBackendBytes: Gauge;
  readonly serverVersion: Gauge<'server_version'>;

  readonly walFsyncDurationSeconds: Histogram;
  readonly backendCommitDurationSeconds: Histogram;
  readonly applyDurationSeconds: Histogram;

  readonly dbTotalSizeBytes: Gauge;
  readonly dbTotalSizeInUseBytes: Gauge;
  readonly watchers: Gauge;
  readonly leases: Gauge;
  /** Expired leases whose revoke has not been applied yet. */
  readonly leaseRevokeBacklog: Gauge;

  readonly grpcStarted: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  readonly grpcHandled: Counter<'grpc_type' | 'grpc_service' | 'grpc_method' | 'grpc_code'>;

  /** Label To: the peer's member id in hex, as etcd labels it. */
  readonly peerSentBytes: Counter<'To'>;
  /** Label From: the peer's member id in hex. */
  readonly peerReceivedBytes: Counter<'From'>;

  readonly #collectors = new Set<MetricsCollector>();

  constructor(options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []): Gauge<L> =>
      new Gauge({ name, help, labelNames, registers });
    const counter = <L extends string = never>(
      name: string,
      help: string,
      labelNames: L[] = [],
    ): Counter<L> => new Counter({ name, help, labelNames, registers });
    const histogram = (name: string, help: string, buckets: number[]): Histogram =>
      new Histogram({ name, help, buckets, registers });

    this.hasLeader = gauge('etcd_server_has_leader', '1 when this member knows a leader, 0 otherwise.');
    this.isLeader = gauge('etcd_server_is_leader', '1 when this member is the leader, 0 otherwise.');
    this.leaderChanges = counter(
      'etcd_server_leader_changes_seen_total',
      'Leader changes this member has seen.',
    );
    this.proposalsCommitted = gauge(
      'etcd_server_proposals_committed_total',
      'Raft entries committed (commit index).',
    );
    this.proposalsApplied = gauge(
      'etcd_server_proposals_applied_total',
      'Raft entries applied (applied index).',
    );
    this.proposalsPending = gauge('etcd_server_proposals_pending', 'Proposals waiting to be committed.');
    this.proposalsFailed = counter(
      'etcd_server_proposals_failed_total',
      'Proposals that failed or timed out.',
    );
    this.raftTerm = gauge('netcd_raft_term', 'Current raft term of this member.');
    this.quotaBackendBytes = gauge(
      'etcd_server_quota_backend_bytes',
      'Backend size that raises the NOSPACE alarm.',
    );
    this.serverVersion = gauge('etcd_server_version', '1 for the server_version this member reports.', [
      'server_version',
    ]);
    this.serverVersion.set({ server_version: options.serverVersion ?? ETCD_API_VERSION }, 1);

    this.walFsyncDurationSeconds = histogram(
      'etcd_disk_wal_fsync_duration_seconds',
      'Latency of syncing the raft log to disk.',
      DISK_BUCKETS_SECONDS,
    );
    this.backendCommitDurationSeconds = histogram(
      'etcd_disk_backend_commit_duration_seconds',
      'Latency of committing a batch to the key-value backend.',
      DISK_BUCKETS_SECONDS,
    );
    this.applyDurationSeconds = histogram(
      'netcd_apply_duration_seconds',
      'Latency of applying one batch of committed entries to the state machine.',
      APPLY_BUCKETS_SECONDS,
    );

    this.dbTotalSizeBytes = gauge('etcd_mvcc_db_total_size_in_bytes', 'Size of the backend on disk.');
    this.dbTotalSizeInUseBytes = gauge(
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'Part of the backend size holding live data.',
    );
    this.watchers = gauge('etcd_debugging_mvcc_watcher_total', 'Watchers open on this member.');
    this.leases = gauge('netcd_leases', 'Leases granted and not yet revoked.');
    this.leaseRevokeBacklog = gauge(
      'netcd_lease_revoke_backlog',
      'Expired leases whose revoke is not yet applied.',
    );

    this.grpcStarted = counter('grpc_server_started_total', 'gRPC calls started on the server.', [
      'grpc_type',
      'grpc_service',
      'grpc_method',
    ]);
    this.grpcHandled = counter(
      'grpc_server_handled_total',
      'gRPC calls completed on the server, by status code.',
      ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
    );

    this.peerSentBytes = counter('etcd_network_peer_sent_bytes_total', 'Bytes sent to each peer.', ['To']);
    this.peerReceivedBytes = counter(
      'etcd_network_peer_received_bytes_total',
      'Bytes received from each peer.',
      ['From'],
    );

    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a started call; `path` is the gRPC method path, e.g. "/etcdserverpb.KV/Range". */
  grpcCallStarted(path: string, type: GrpcType): void {
    const { service, method } = splitMethodPath(path);
    this.grpcStarted.inc({ grpc_type: type, grpc_service: service, grpc_method: method });
  }

  /** Counts a finished call with its gRPC status code. */
  grpcCallHandled(path: string, type: GrpcType, code: number): void {
    const { service, method } = splitMethodPath(path);
    this.grpcHandled.inc({
      grpc_type: type,
      grpc_service: service,
      grpc_method: method,
      grpc_code: grpcCodeName(code),
    });
  }

  /** Runs `collector` before every scrape; returns a function that removes it. */
  onCollect(collector: MetricsCollector): () => void {
    this.#collectors.add(collector);
    return () => {
      this.#collectors.delete(collector);
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; rejects when a collector fails, so a scrape never shows half-filled gauges. */
  async text(): Promise<string> {
    await Promise.all([...this.#collectors].map((c) => c()));
    return this.registry.metrics();
  }
}

function splitMethodPath(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf('/');
  return {
    service: path.slice(path.startsWith('/') ? 1 : 0, Math.max(slash, 0)),
    method: path.slice(slash + 1),
  };
}

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}
