// Members of one cluster in one process, joined by an in-memory network (messages and peer
// requests delivered on a later turn of the event loop), on real data dirs in a temp folder. For
// tests of the member's node loop without sockets; the real transport has tests of its own.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Message } from '../../raft/types.js';
import { type DataDirOptions, openDataDir } from '../bootstrap.js';
import { NetcdMember, type PeerNetwork } from '../member.js';

export class LocalNetwork {
  readonly members = new Map<number, NetcdMember>();
  /** Members cut off from everyone (both directions). */
  readonly isolated = new Set<number>();

  link(from: number): PeerNetwork {
    const peers = new Map<number, readonly string[]>();
    return {
      setPeer: (id, urls) => peers.set(id, urls),
      removePeer: (id) => peers.delete(id),
      send: (messages: readonly Message[]) => {
        for (const m of messages) {
          setImmediate(() => {
            if (this.isolated.has(from) || this.isolated.has(m.to)) return;
            const to = this.members.get(m.to);
            if (to === undefined || to.isStopped) return;
            to.receive(m);
            if (m.type === 'snap') this.members.get(from)?.reportSnapshot(m.to, true);
          });
        }
      },
      request: async (to, body) => {
        await new Promise((res) => setImmediate(res));
        const peer = this.members.get(to);
        if (peer === undefined || peer.isStopped || this.isolated.has(from) || this.isolated.has(to))
          throw new Error(`peer ${to.toString(16)} unreachable`);
        return peer.handlePeerRequest(body);
      },
    };
  }
}

export interface LocalMemberSpec {
  readonly name: string;
  readonly state?: 'new' | 'existing';
}

export class LocalCluster {
  readonly network = new LocalNetwork();
  readonly root: string;
  readonly names: string[];
  private readonly logger = pino({ level: process.env.NETCD_TEST_LOG ?? 'silent' });
  readonly byName = new Map<string, NetcdMember>();
  /** Members that learned they were removed from the cluster (their onRemoved fired). */
  readonly removed = new Set<string>();

  private constructor(root: string, names: string[]) {
    this.root = root;
    this.names = names;
  }

  static async create(size: number): Promise<LocalCluster> {
    const root = await mkdtemp(join(tmpdir(), 'netcd-local-'));
    const names = Array.from({ length: size }, (_, i) => `m${i + 1}`);
    const c = new LocalCluster(root, names);
    for (const name of names) await c.start(name);
    return c;
  }

  peerURL(name: string): string {
    return `http://127.0.0.1:${20000 + Number(name.slice(1))}`;
  }

  dataDirOptions(name: string, state: 'new' | 'existing' = 'new'): DataDirOptions {
    return {
      name,
      dataDir: join(this.root, name),
      initialCluster: this.names.map((n) => ({ name: n, peerURLs: [this.peerURL(n)] })),
      initialClusterState: state,
      initialClusterToken: 'local',
      initialAdvertisePeerURLs: [this.peerURL(name)],
      fetchCluster: async () => {
        const any = [...this.network.members.values()].find((m) => !m.isStopped);
        if (any === undefined) throw new Error('no running member');
        return { clusterId: any.clusterId, members: any.machine.members.list() };
      },
    };
  }

  async start(name: string, state: 'new' | 'existing' = 'new', snapshotCount = 10_000): Promise<NetcdMember> {
    const opened = await openDataDir(this.dataDirOptions(name, state));
    const m = new NetcdMember(
      {
        memberId: opened.identity.memberId,
        clusterId: opened.identity.clusterId,
        name,
        clientURLs: [`http://127.0.0.1:${30000 + Number(name.slice(1))}`],
        log: opened.log,
        backend: opened.backend,
        network: this.network.link(opened.identity.memberId),
        logger: this.logger.child({ member: name }),
        heartbeatIntervalMs: 10,
        electionTimeoutMs: 100,
        snapshotCount,
        quotaBackendBytes: 0,
        maxRequestBytes: 1.5 * 1024 * 1024,
        maxTxnOps: 128,
        onRemoved: () => this.removed.add(name),
      },
      opened.state,
    );
    this.network.members.set(m.id, m);
    this.byName.set(name, m);
    m.start();
    return m;
  }

  async stop(name: string): Promise<void> {
    const m = this.byName.get(name);
    if (m === undefined) return;
    await m.stop();
    this.network.members.delete(m.id);
    this.byName.delete(name);
  }

  /** The current leader, once every running member agrees on one. */
  async leader(timeoutMs = 5000): Promise<NetcdMember> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const running = [...this.byName.values()];
      const lead = running[0]?.leaderId ?? 0;
      if (lead !== 0 && running.every((m) => m.leaderId === lead)) {
        const l = running.find((m) => m.id === lead);
        if (l !== undefined) return l;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no agreed leader in time');
  }

  async close(): Promise<void> {
    for (const name of [...this.byName.keys()]) await this.stop(name);
    await rm(this.root, { recursive: true, force: true });
  }
}
