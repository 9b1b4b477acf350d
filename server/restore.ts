// Offline restore of a saved snapshot (`etcdctl snapshot save`) into a data dir for a NEW cluster,
// like `etcdctl snapshot restore`: keys, values and leases come from the snapshot; identity and
// membership come from the --initial-* options, derived exactly as a founding member's, so every
// member restored from the same file with the same options holds byte-identical founding state.
// Revisions never go backwards: the restored cluster continues above the snapshot's revision.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createDataDir,
  type DataDirOptions,
  emptyStateMachine,
  foundingMembers,
  isEmptyDir,
  memberDirOf,
  StartupError,
} from './bootstrap.js';
import { openSnapshotFile, SnapshotFileError } from './snapshot-file.js';

/**
 * Revisions a restore adds by default: more writes than a backup is likely to be behind by. etcd
 * bumps nothing unless asked (its docs advise a large bump with --mark-compacted); netcd bumps by
 * default so that revisions never go backwards for a client that outlives the old cluster.
 */
export const DEFAULT_BUMP_REVISION = 1_000_000;

export interface RestoreOptions {
  /** The file `etcdctl snapshot save` wrote. */
  readonly snapshotPath: string;
  /** Must be missing or empty: a restore never overwrites. */
  readonly dataDir: string;
  /** Where the raft log goes (default <dataDir>/member/wal); must be missing or empty too. */
  readonly walDir?: string;
  /** This member's name in `initialCluster`. */
  readonly name: string;
  /** The new cluster's members, parsed as for `--initial-cluster`. */
  readonly initialCluster: DataDirOptions['initialCluster'];
  readonly initialClusterToken: string;
  /** This member's peer URLs: must be its `initialCluster` entry's, as for a founding start. */
  readonly initialAdvertisePeerURLs: readonly string[];
  /** Accept a file whose SHA-256 does not match (its size must still be right). Default false. */
  readonly skipHashCheck?: boolean;
  /** Revisions added to the snapshot's current revision. Default DEFAULT_BUMP_REVISION. */
  readonly bumpRevision?: number;
  /** Compact everything up to the bumped revision. Default true. */
  readonly markCompacted?: boolean;
}

export interface RestoreReport {
  readonly name: string;
  readonly memberId: number;
  readonly clusterId: number;
  readonly dataDir: string;
  readonly walDir: string;
  /** The snapshot's current revision. */
  readonly revisionBefore: number;
  /** The restored cluster's current revision: revisionBefore + bumpRevision. */
  readonly revisionAfter: number;
  /** Reads below it fail with "required revision has been compacted"; -1 if never compacted. */
  readonly compactRevision: number;
  /** Live keys at the current revision. */
  readonly keys: number;
  readonly leases: number;
  /** Whether the file's SHA-256 was checked (false only with skipHashCheck). */
  readonly hashChecked: boolean;
}

export type RestoreErrorCode =
  | 'BAD_OPTION'
  | 'UNKNOWN_MEMBER'
  | 'DATA_DIR_NOT_EMPTY'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_UNREADABLE'
  | 'BAD_SIZE'
  | 'HASH_MISMATCH'
  | 'NOT_A_SNAPSHOT'
  | 'WRITE_FAILED';

export class RestoreError extends Error {
  readonly code: RestoreErrorCode;
  constructor(code: RestoreErrorCode, message: string) {
    super(message);
    this.name = 'RestoreError';
    this.code = code;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((u) => x.has(u));
}

/** Missing, or an empty directory; anything else (a file, a dir with content) is refused. */
async function refuseUnlessEmpty(dir: string, flag: string): Promise<void> {
  let empty: boolean;
  try {
    empty = await isEmptyDir(dir);
  } catch (err) {
    throw new RestoreError('DATA_DIR_NOT_EMPTY', `${flag} ${dir}: ${(err as Error).message}`);
  }
  if (!empty)
    throw new RestoreError(
      'DATA_DIR_NOT_EMPTY',
      `${flag} ${dir} is not empty; a restore never overwrites: move it away or pick another`,
    );
}

async function readSnapshotFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new RestoreError('SNAPSHOT_NOT_FOUND', `snapshot file ${path} not found`);
    throw new RestoreError('SNAPSHOT_UNREADABLE', `cannot read snapshot file ${path}: ${e.message}`);
  }
}

export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreReport> {
  const bumpRevision = o.bumpRevision ?? DEFAULT_BUMP_REVISION;
  const markCompacted = o.markCompacted ?? true;
  const skipHashCheck = o.skipHashCheck ?? false;
  if (!Number.isSafeInteger(bumpRevision) || bumpRevision < 0)
    throw new RestoreError('BAD_OPTION', `--bump-revision ${bumpRevision} is not a non-negative integer`);

  // Membership first: it needs no I/O, and a typo in it should not cost reading a large file.
  let founding: ReturnType<typeof foundingMembers>;
  try {
    founding = foundingMembers(o);
  } catch (err) {
    if (err instanceof StartupError) throw new RestoreError('BAD_OPTION', err.message);
    throw err;
  }
  const self = founding.members.find((m) => m.name === o.name);
  const entry = o.initialCluster.find((m) => m.name === o.name);
  if (self === undefined || entry === undefined)
    throw new RestoreError('UNKNOWN_MEMBER', `--initial-cluster has no member named ${o.name}`);
  if (!sameSet(entry.peerURLs, o.initialAdvertisePeerURLs))
    throw new RestoreError(
      'BAD_OPTION',
      `--initial-cluster has ${entry.peerURLs.map((u) => `${o.name}=${u}`).join(',')} but --initial-advertise-peer-urls is ${o.initialAdvertisePeerURLs.join(',')}`,
    );

  await refuseUnlessEmpty(o.dataDir, '--data-dir');
  if (o.walDir !== undefined) await refuseUnlessEmpty(o.walDir, '--wal-dir');

  const file = await readSnapshotFile(o.snapshotPath);
  let body: Uint8Array;
  try {
    body = openSnapshotFile(file, { skipHashCheck });
  } catch (err) {
    if (err instanceof SnapshotFileError)
      throw new RestoreError(err.code, `${o.snapshotPath}: ${err.message}`);
    throw err;
  }

  const machine = emptyStateMachine();
  try {
    machine.restore(body, { zeroPadded: true });
  } catch (err) {
    // Whatever the decoder trips on (a bbolt file from etcd, random bytes), the answer is the same.
    throw new RestoreError(
      'NOT_A_SNAPSHOT',
      `${o.snapshotPath} is not a netcd snapshot (etcd's bbolt snapshots cannot be restored into netcd): ${(err as Error).message}`,
    );
  }
  const revisionBefore = machine.store.currentRevision;
  try {
    machine.startNewCluster({
      clusterId: founding.clusterId,
      members: founding.members,
      bumpRevision,
      markCompacted,
    });
  } catch (err) {
    if (err instanceof RangeError) throw new RestoreError('BAD_OPTION', err.message);
    throw err;
  }

  const identity = { memberId: self.id, clusterId: founding.clusterId, name: o.name };
  let opened: Awaited<ReturnType<typeof createDataDir>>;
  try {
    opened = await createDataDir({
      dataDir: o.dataDir,
      ...(o.walDir === undefined ? {} : { walDir: o.walDir }),
      identity,
      machine,
      founding: true,
    });
  } catch (err) {
    // createDataDir removed what it wrote; the message says what failed (a lock, a full disk).
    throw new RestoreError('WRITE_FAILED', `cannot write ${o.dataDir}: ${(err as Error).message}`);
  }
  await opened.log.close();
  await opened.backend.close();
  return {
    name: o.name,
    memberId: identity.memberId,
    clusterId: identity.clusterId,
    dataDir: o.dataDir,
    walDir: o.walDir ?? join(memberDirOf(o.dataDir), 'wal'),
    revisionBefore,
    revisionAfter: machine.store.currentRevision,
    compactRevision: machine.store.compactRevision,
    keys: machine.store.keyCount(),
    leases: machine.leases.size,
    hashChecked: !skipHashCheck,
  };
}
