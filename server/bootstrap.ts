// Opens a member's data dir: the first start of a founding member writes the bootstrap state
// (membership as a snapshot at index 1, identical on every founding member), a joining member
// takes the identity the cluster gave it at `member add`, and a restart reloads the backend and
// the raft log and ignores the --initial-* settings. Refuses, with a clear error, a data dir that
// is not netcd's, that belongs to another cluster, or that another process holds. A snapshot
// restore (server/restore.ts) writes its data dir with the same createDataDir as a founding member.

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LevelBackend } from '../kv/backend.js';
import { LeaseTable } from '../kv/lease/lessor.js';
import type { MemberRecord } from '../kv/members.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { openRaftLog, type RaftLog } from '../kv/wal/index.js';
import { clusterIdOf, foundingMemberId, type Identity, readIdentity, writeIdentity } from './identity.js';

const JOIN_LOOKUP_ATTEMPTS = 10;
const JOIN_LOOKUP_PAUSE_MS = 300;

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface DataDirOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly walDir?: string;
  readonly initialCluster: readonly { readonly name: string; readonly peerURLs: readonly string[] }[];
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly initialAdvertisePeerURLs: readonly string[];
  /** For `existing`: asks the running cluster for its membership (see server/join.ts). */
  readonly fetchCluster?: () => Promise<{
    readonly clusterId: number;
    readonly members: readonly MemberRecord[];
  }>;
}

export interface OpenedDataDir {
  readonly identity: Identity;
  readonly log: RaftLog;
  readonly backend: LevelBackend;
  /** The backend's state, loaded into a state machine by the member. */
  readonly state: Awaited<ReturnType<LevelBackend['load']>>;
  /** Whether this start created the data dir. */
  readonly fresh: boolean;
}

export function memberDirOf(dataDir: string): string {
  return join(dataDir, 'member');
}

/** Whether `dir` is missing or holds nothing. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

async function openBackend(dir: string): Promise<LevelBackend> {
  try {
    return await LevelBackend.open(dir);
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string } };
    if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED' || /lock/i.test(e.message))
      throw new StartupError(`data dir ${dir} is in use by another process`);
    throw new StartupError(`cannot open the backend in ${dir}: ${e.message}`);
  }
}

async function openLog(dir: string): Promise<RaftLog> {
  try {
    return await openRaftLog(dir);
  } catch (err) {
    throw new StartupError(`cannot open the raft log in ${dir}: ${(err as Error).message}`);
  }
}

/** A state machine with nothing in it, as a new data dir starts from. */
export function emptyStateMachine(): KvStateMachine {
  return new KvStateMachine((s) => (s === null ? new LeaseTable() : LeaseTable.restore(s)));
}

/** Founding membership of a new cluster, derived from --initial-cluster alone. */
export function foundingMembers(o: Pick<DataDirOptions, 'initialCluster' | 'initialClusterToken'>): {
  clusterId: number;
  members: MemberRecord[];
} {
  const members = o.initialCluster.map((m) => ({
    id: foundingMemberId(m.peerURLs, o.initialClusterToken),
    name: m.name,
    peerURLs: [...m.peerURLs],
    clientURLs: [],
    isLearner: false,
  }));
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) throw new StartupError('--initial-cluster lists the same peer URLs twice');
  return { clusterId: clusterIdOf([...ids], o.initialClusterToken), members };
}

export async function openDataDir(o: DataDirOptions): Promise<OpenedDataDir> {
  const memberDir = memberDirOf(o.dataDir);
  const walDir = o.walDir ?? join(memberDir, 'wal');
  const dbDir = join(memberDir, 'db');
  let identity: Identity | null;
  try {
    identity = await readIdentity(memberDir);
  } catch (err) {
    throw new StartupError(`cannot read ${memberDir}: ${(err as Error).message}`);
  }
  if (identity !== null) {
    const backend = await openBackend(dbDir);
    try {
      const log = await openLog(walDir);
      const state = await backend.load();
      return { identity, log, backend, state, fresh: false };
    } catch (err) {
      await backend.close();
      throw err;
    }
  }
  if (!(await isEmptyDir(memberDir)) || (o.walDir !== undefined && !(await isEmptyDir(o.walDir))))
    throw new StartupError(
      `data dir ${o.dataDir} holds data that is not a netcd member's (or an interrupted first start); move it away or pick another --data-dir`,
    );
  const { clusterId, members, self } = await initialMembership(o);
  const machine = emptyStateMachine();
  machine.bootstrapMembers(clusterId, members);
  return createDataDir({
    dataDir: o.dataDir,
    ...(o.walDir === undefined ? {} : { walDir: o.walDir }),
    identity: { memberId: self, clusterId, name: o.name },
    machine,
    founding: o.initialClusterState === 'new',
  });
}

export interface NewDataDirOptions {
  readonly dataDir: string;
  readonly walDir?: string;
  readonly identity: Identity;
  /** The state the member starts from; its membership is the cluster's. */
  readonly machine: KvStateMachine;
  /**
   * A founding member records the state as the snapshot at index 1, term 1 (the machine's applied
   * index is set to 1): the same bytes on every founding member, so none needs the others' log.
   * A joining member stores the state at index 0 and receives the cluster's from the leader.
   */
  readonly founding: boolean;
}

/**
 * Writes a new member's data dir (backend, raft log, then the identity file last, so that an
 * interrupted creation leaves a dir without identity, which the next start refuses) and returns it
 * open. On failure everything it wrote is removed again. The caller has checked the dirs are empty.
 */
export async function createDataDir(o: NewDataDirOptions): Promise<OpenedDataDir> {
  const memberDir = memberDirOf(o.dataDir);
  const walDir = o.walDir ?? join(memberDir, 'wal');
  const { machine } = o;
  await mkdir(memberDir, { recursive: true });
  const backend = await openBackend(join(memberDir, 'db'));
  let log: RaftLog | null = null;
  try {
    log = await openLog(walDir);
    if (o.founding) {
      const members = machine.members.list();
      const voters = members.filter((m) => !m.isLearner).map((m) => m.id);
      const learners = members.filter((m) => m.isLearner).map((m) => m.id);
      const confState = { voters, votersOutgoing: [], learners, learnersNext: [], autoLeave: false };
      machine.appliedIndex = 1;
      await backend.replace(machine.backendState());
      await log.save({ term: 1, vote: 0, commit: 1 }, [], {
        metadata: { index: 1, term: 1, confState },
        data: machine.snapshot(),
      });
    } else {
      // A joining member knows the members to reach the leader, and applies the cluster's history
      // (or snapshot) from there.
      await backend.replace(machine.backendState());
    }
    await writeIdentity(memberDir, o.identity);
    const state = await backend.load();
    return { identity: o.identity, log, backend, state, fresh: true };
  } catch (err) {
    await log?.close();
    await backend.close();
    await rm(memberDir, { recursive: true, force: true });
    if (o.walDir !== undefined) await rm(o.walDir, { recursive: true, force: true });
    throw err;
  }
}

async function initialMembership(
  o: DataDirOptions,
): Promise<{ clusterId: number; members: MemberRecord[]; self: number }> {
  if (o.initialClusterState === 'new') {
    const { clusterId, members } = foundingMembers(o);
    const self = members.find((m) => m.name === o.name);
    if (self === undefined) throw new StartupError(`--initial-cluster has no member named ${o.name}`);
    return { clusterId, members, self: self.id };
  }
  if (o.fetchCluster === undefined) throw new StartupError('cannot join: no way to reach the cluster');
  // The member that answers may not have applied the `member add` yet: ask again for a while.
  let cluster = await o.fetchCluster();
  let mine: MemberRecord | undefined;
  for (let attempt = 0; ; attempt++) {
    mine = cluster.members.find((m) => m.peerURLs.some((u) => o.initialAdvertisePeerURLs.includes(u)));
    if (mine !== undefined || attempt >= JOIN_LOOKUP_ATTEMPTS) break;
    await new Promise((r) => setTimeout(r, JOIN_LOOKUP_PAUSE_MS));
    cluster = await o.fetchCluster();
  }
  if (mine === undefined)
    throw new StartupError(
      `the cluster has no member with peer URLs ${o.initialAdvertisePeerURLs.join(',')}; run "member add" first`,
    );
  return { clusterId: cluster.clusterId, members: [...cluster.members], self: mine.id };
}
