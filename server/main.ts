// The `netcd` daemon: parses etcd's flags, opens the data dir, starts the peer transport, the
// member, the client port (gRPC and HTTP on one port, like etcd) and the optional metrics
// listeners, and stops all of it on SIGTERM/SIGINT after handing leadership over. Startup
// problems end the process with one clear line on stderr and exit code 1, never a stack trace.

import pino from 'pino';
import { openDataDir, StartupError } from './bootstrap.js';
import { startClientListener } from './client-listener.js';
import { Compactor } from './compactor.js';
import { type Config, ConfigError, ETCD_API_VERSION, NETCD_VERSION, parseConfig } from './config.js';
import { CorruptionCheck } from './corruption-check.js';
import { createGrpcServer, shutdownGrpcServer } from './grpc/server.js';
import { startHttpEndpoints } from './http.js';
import { fetchClusterFromPeers } from './join.js';
import { NetcdMember } from './member.js';
import { ServerMetrics } from './metrics.js';
import { PeerTransport } from './transport/transport.js';

/** How long stopping may take before the process exits anyway. */
const STOP_DEADLINE_MS = 15_000;
const GRPC_SHUTDOWN_GRACE_MS = 2_000;

function fatal(message: string): never {
  process.stderr.write(`netcd: ${message}\n`);
  process.exit(1);
}

function tlsRequested(c: Config): boolean {
  const t = [c.clientTls, c.peerTls];
  return t.some(
    (x) => x.certFile !== null || x.keyFile !== null || x.trustedCaFile !== null || x.clientCertAuth,
  );
}

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) fatal(err.message);
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { name: config.name } }, pino.destination(2));
  for (const v of config.unrecognizedEnv) logger.warn({ variable: v }, 'unrecognized environment variable');
  if (tlsRequested(config)) fatal('TLS is not supported by this version of netcd; use http:// URLs');

  const peerURLs = config.initialAdvertisePeerUrls.map((u) => u.url);
  let opened: Awaited<ReturnType<typeof openDataDir>>;
  try {
    opened = await openDataDir({
      name: config.name,
      dataDir: config.dataDir,
      ...(config.walDir === null ? {} : { walDir: config.walDir }),
      initialCluster: config.initialCluster,
      initialClusterState: config.initialClusterState,
      initialClusterToken: config.initialClusterToken,
      initialAdvertisePeerURLs: peerURLs,
      fetchCluster: () =>
        fetchClusterFromPeers(
          config.initialCluster.filter((m) => m.name !== config.name).flatMap((m) => m.peerURLs),
          logger,
        ),
    });
  } catch (err) {
    if (err instanceof StartupError) fatal(err.message);
    throw err;
  }
  const { identity } = opened;
  const log = logger.child({ member: identity.memberId.toString(16) });
  if (!opened.fresh) log.info('restarting on an existing data dir; --initial-* flags are ignored');

  const metrics = new ServerMetrics({ serverVersion: ETCD_API_VERSION });
  metrics.quotaBackendBytes.set(config.quotaBackendBytes);
  let member: NetcdMember | null = null;
  const transport = new PeerTransport({
    memberId: identity.memberId,
    clusterId: identity.clusterId,
    listenUrls: config.listenPeerUrls.map((u) => u.url),
    logger,
    onMessage: (m) => member?.receive(m),
    onRequest: async (_from, body) => {
      if (member === null) throw new Error('member not started');
      return member.handlePeerRequest(body);
    },
    onUnreachable: (peer) => member?.reportUnreachable(peer),
    onSnapshotStatus: (peer, ok) => member?.reportSnapshot(peer, ok),
    clusterInfo: () => member?.clusterInfo() ?? null,
    onRejected: (peer, code) => member?.reportRejected(peer, code),
  });
  try {
    await transport.start();
  } catch (err) {
    await opened.log.close();
    await opened.backend.close();
    fatal(`cannot listen for peers: ${(err as Error).message}`);
  }

  member = new NetcdMember(
    {
      memberId: identity.memberId,
      clusterId: identity.clusterId,
      name: config.name,
      clientURLs: config.advertiseClientUrls.map((u) => u.url),
      log: opened.log,
      backend: opened.backend,
      network: transport,
      logger: log,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      electionTimeoutMs: config.electionTimeoutMs,
      snapshotCount: config.snapshotCount,
      snapshotCatchUpEntries: config.snapshotCatchUpEntries,
      quotaBackendBytes: config.quotaBackendBytes,
      maxRequestBytes: config.maxRequestBytes,
      maxTxnOps: config.maxTxnOps,
      preVote: config.preVote,
      strictReconfigCheck: config.strictReconfigCheck,
      observer: observerFor(metrics),
      onRemoved: () => void shutdown('removed from the cluster', 0),
    },
    opened.state,
  );
  const m = member;
  collectGauges(metrics, m);
  collectPeerBytes(metrics, transport);

  const grpcServer = createGrpcServer(m, {
    onRequest: (path, code) => {
      const [service = '', method = ''] = path.split('/');
      metrics.grpcHandled.inc({
        grpc_type: 'unary',
        grpc_service: service,
        grpc_method: method,
        grpc_code: code,
      });
    },
  });
  const version = { etcdserver: ETCD_API_VERSION, etcdcluster: '3.4.0', netcd: NETCD_VERSION };
  const health = async () => m.health();
  const http = await startHttpEndpoints({ health, metrics, version, logger: log });
  const httpServer = http.servers[0];
  if (httpServer === undefined) throw new Error('no HTTP server for the client port');
  let clients: Awaited<ReturnType<typeof startClientListener>>;
  try {
    clients = await startClientListener({
      urls: config.listenClientUrls,
      grpcServer,
      httpServer,
      logger: log,
    });
  } catch (err) {
    await transport.stop();
    await m.stop();
    fatal(`cannot listen for clients: ${(err as Error).message}`);
  }
  const metricsListeners =
    config.listenMetricsUrls.length > 0
      ? await startHttpEndpoints({ urls: config.listenMetricsUrls, health, metrics, version, logger: log })
      : null;

  const compactor = new Compactor({
    mode: config.autoCompaction.retention,
    target: m.compactionTarget(),
    logger: log.child({ component: 'compactor' }),
  });
  const corruption = new CorruptionCheck({
    target: m.corruptionTarget(),
    intervalMs: config.corruptCheckIntervalMs,
    logger: log.child({ component: 'corruption-check' }),
  });
  m.start();
  compactor.start();
  corruption.start();
  log.info(
    {
      clientURLs: config.advertiseClientUrls.map((u) => u.url),
      peerURLs,
      cluster: identity.clusterId.toString(16),
    },
    'netcd member started',
  );

  let stopping: Promise<void> | null = null;
  async function shutdown(reason: string, code: number): Promise<void> {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      const force = setTimeout(() => {
        log.error('stop took too long; exiting');
        process.exit(code === 0 ? 1 : code);
      }, STOP_DEADLINE_MS);
      force.unref();
      compactor.stop();
      corruption.stop();
      await m.stop();
      await clients.close({ graceMs: 500 });
      await shutdownGrpcServer(grpcServer, GRPC_SHUTDOWN_GRACE_MS);
      await metricsListeners?.close();
      await http.close();
      await transport.stop();
      log.info('stopped');
      process.exit(code);
    })();
    return stopping;
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
}

/** Member events into metrics. */
function observerFor(
  metrics: ServerMetrics,
): NonNullable<ConstructorParameters<typeof NetcdMember>[0]['observer']> {
  return {
    onLeaderChange: (leader) => {
      metrics.leaderChanges.inc();
      metrics.hasLeader.set(leader === 0 ? 0 : 1);
    },
    onTerm: (term) => metrics.raftTerm.set(term),
    onProposal: (outcome) => {
      if (outcome === 'failed') metrics.proposalsFailed.inc();
    },
    onApplyDuration: (seconds) => metrics.applyDurationSeconds.observe(seconds),
    onFsyncDuration: (seconds) => metrics.walFsyncDurationSeconds.observe(seconds),
    onBackendCommitDuration: (seconds) => metrics.backendCommitDurationSeconds.observe(seconds),
  };
}

/** Gauges read at scrape time. */
function collectGauges(metrics: ServerMetrics, m: NetcdMember): void {
  metrics.onCollect(async () => {
    const s = m.gauges();
    metrics.isLeader.set(s.isLeader ? 1 : 0);
    metrics.hasLeader.set(s.leader === 0 ? 0 : 1);
    metrics.proposalsCommitted.set(s.committed);
    metrics.proposalsApplied.set(s.applied);
    metrics.proposalsPending.set(s.pendingProposals);
    metrics.raftTerm.set(s.term);
    metrics.watchers.set(s.watchers);
    metrics.leases.set(s.leases);
    metrics.leaseRevokeBacklog.set(s.leaseRevokeBacklog);
    metrics.dbTotalSizeInUseBytes.set(s.dbSizeInUse);
    metrics.dbTotalSizeBytes.set(await m.dbSizeBytes());
  });
}

/** The transport's per-peer byte totals into etcd's peer counters (counters only grow: add the change). */
function collectPeerBytes(metrics: ServerMetrics, transport: PeerTransport): void {
  const seen = new Map<string, number>();
  const growth = (key: string, total: number): number => {
    const delta = total - (seen.get(key) ?? 0);
    seen.set(key, total);
    return Math.max(0, delta);
  };
  metrics.onCollect(() => {
    for (const p of transport.stats().peers) {
      const peer = p.id.toString(16);
      metrics.peerSentBytes.inc({ To: peer }, growth(`to:${peer}`, p.bytesSent));
      metrics.peerReceivedBytes.inc({ From: peer }, growth(`from:${peer}`, p.bytesReceived));
    }
  });
}

run(process.argv.slice(2), process.env).catch((err: unknown) => {
  fatal(err instanceof Error ? err.message : String(err));
});
