// Proves each member's metrics live in their own registry under etcd's names, that collectors fill
// gauges at scrape time (and a failing one fails the scrape), and that gRPC labels match Go's spelling.

import t from 'tap';
import { grpcCodeName, ServerMetrics } from './metrics.js';

/** The sample lines of one metric (no HELP/TYPE lines). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
}

t.test('two members in one process keep separate values', async (t) => {
  const a = new ServerMetrics({ processMetrics: false });
  const b = new ServerMetrics({ processMetrics: false });
  a.hasLeader.set(1);
  a.leaderChanges.inc();
  a.leaderChanges.inc();
  b.hasLeader.set(0);
  const ta = await a.text();
  const tb = await b.text();
  t.same(samples(ta, 'etcd_server_has_leader'), ['etcd_server_has_leader 1']);
  t.same(samples(tb, 'etcd_server_has_leader'), ['etcd_server_has_leader 0']);
  t.same(samples(ta, 'etcd_server_leader_changes_seen_total'), ['etcd_server_leader_changes_seen_total 2']);
  t.same(samples(tb, 'etcd_server_leader_changes_seen_total'), ['etcd_server_leader_changes_seen_total 0']);
});

t.test('every metric is exposed under its etcd or netcd name with its type', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  const text = await m.text();
  const types = Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => {
        const [, , name, type] = l.split(' ');
        return [name, type];
      }),
  );
  t.same(types, {
    etcd_server_has_leader: 'gauge',
    etcd_server_is_leader: 'gauge',
    etcd_server_leader_changes_seen_total: 'counter',
    etcd_server_proposals_committed_total: 'gauge',
    etcd_server_proposals_applied_total: 'gauge',
    etcd_server_proposals_pending: 'gauge',
    etcd_server_proposals_failed_total: 'counter',
    netcd_raft_term: 'gauge',
    etcd_server_quota_backend_bytes: 'gauge',
    etcd_server_version: 'gauge',
    etcd_disk_wal_fsync_duration_seconds: 'histogram',
    etcd_disk_backend_commit_duration_seconds: 'histogram',
    netcd_apply_duration_seconds: 'histogram',
    etcd_mvcc_db_total_size_in_bytes: 'gauge',
    etcd_mvcc_db_total_size_in_use_in_bytes: 'gauge',
    etcd_debugging_mvcc_watcher_total: 'gauge',
    netcd_leases: 'gauge',
    netcd_lease_revoke_backlog: 'gauge',
    grpc_server_started_total: 'counter',
    grpc_server_handled_total: 'counter',
    etcd_network_peer_sent_bytes_total: 'counter',
    etcd_network_peer_received_bytes_total: 'counter',
  });
  t.same(samples(text, 'etcd_server_version'), ['etcd_server_version{server_version="3.4.0"} 1']);
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

t.test('disk histograms use etcd buckets from 1 ms doubling to 8.192 s', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  m.walFsyncDurationSeconds.observe(0.0003);
  m.walFsyncDurationSeconds.observe(0.003);
  const lines = samples(await m.text(), 'etcd_disk_wal_fsync_duration_seconds_bucket');
  t.equal(lines.length, 15, '14 buckets plus +Inf');
  t.equal(lines[0], 'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 1');
  t.equal(lines[2], 'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 2');
  t.equal(lines[13], 'etcd_disk_wal_fsync_duration_seconds_bucket{le="8.192"} 2');
  t.equal(lines[14], 'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 2');
  const apply = samples(await m.text(), 'netcd_apply_duration_seconds_bucket');
  t.equal(apply[0], 'netcd_apply_duration_seconds_bucket{le="0.0001"} 0');
  t.equal(apply[15], 'netcd_apply_duration_seconds_bucket{le="3.2768"} 0');
});

t.test('gRPC calls are counted with service, method, type and Go-spelled code labels', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  m.grpcCallStarted('/etcdserverpb.KV/Range', 'unary');
  m.grpcCallHandled('/etcdserverpb.KV/Range', 'unary', 0);
  m.grpcCallStarted('/etcdserverpb.Watch/Watch', 'bidi_stream');
  m.grpcCallHandled('/etcdserverpb.Watch/Watch', 'bidi_stream', 1);
  m.grpcCallHandled('/etcdserverpb.KV/Range', 'unary', 11);
  const text = await m.text();
  t.same(samples(text, 'grpc_server_started_total'), [
    'grpc_server_started_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Range"} 1',
    'grpc_server_started_total{grpc_type="bidi_stream",grpc_service="etcdserverpb.Watch",grpc_method="Watch"} 1',
  ]);
  t.same(samples(text, 'grpc_server_handled_total'), [
    'grpc_server_handled_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Range",grpc_code="OK"} 1',
    'grpc_server_handled_total{grpc_type="bidi_stream",grpc_service="etcdserverpb.Watch",grpc_method="Watch",grpc_code="Canceled"} 1',
    'grpc_server_handled_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Range",grpc_code="OutOfRange"} 1',
  ]);
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17].map(grpcCodeName), [
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
    'Code(17)',
  ]);
});

t.test('peer byte counters are labelled To and From like etcd', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  m.peerSentBytes.inc({ To: '8e9e05c52164694d' }, 100);
  m.peerReceivedBytes.inc({ From: '8e9e05c52164694d' }, 40);
  const text = await m.text();
  t.same(samples(text, 'etcd_network_peer_sent_bytes_total'), [
    'etcd_network_peer_sent_bytes_total{To="8e9e05c52164694d"} 100',
  ]);
  t.same(samples(text, 'etcd_network_peer_received_bytes_total'), [
    'etcd_network_peer_received_bytes_total{From="8e9e05c52164694d"} 40',
  ]);
});

t.test('collectors fill gauges at scrape time and can be removed', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  let watchers = 3;
  const remove = m.onCollect(async () => {
    await Promise.resolve();
    m.watchers.set(watchers);
  });
  m.onCollect(() => m.leases.set(7));
  t.same(samples(await m.text(), 'etcd_debugging_mvcc_watcher_total'), [
    'etcd_debugging_mvcc_watcher_total 3',
  ]);
  watchers = 5;
  t.same(samples(await m.text(), 'etcd_debugging_mvcc_watcher_total'), [
    'etcd_debugging_mvcc_watcher_total 5',
  ]);
  remove();
  watchers = 9;
  const text = await m.text();
  t.same(samples(text, 'etcd_debugging_mvcc_watcher_total'), ['etcd_debugging_mvcc_watcher_total 5']);
  t.same(samples(text, 'netcd_leases'), ['netcd_leases 7']);
});

t.test('a failing collector fails the scrape', async (t) => {
  const m = new ServerMetrics({ processMetrics: false });
  m.onCollect(() => {
    throw new Error('store closed');
  });
  await t.rejects(m.text(), new Error('store closed'));
});

t.test('process metrics are on by default, in the member registry only', async (t) => {
  const withProcess = await new ServerMetrics().text();
  t.equal(samples(withProcess, 'process_cpu_user_seconds_total').length, 1);
  t.equal(samples(withProcess, 'nodejs_heap_size_used_bytes').length, 1);
  t.equal(
    samples(await new ServerMetrics({ processMetrics: false }).text(), 'process_cpu_user_seconds_total')
      .length,
    0,
  );
  const custom = await new ServerMetrics({ processMetrics: false, serverVersion: '3.4.30' }).text();
  t.same(samples(custom, 'etcd_server_version'), ['etcd_server_version{server_version="3.4.30"} 1']);
});
