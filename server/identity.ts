// Who this member is, across restarts: its member id, the cluster id and its name, kept in a
// small file of the data dir written once at bootstrap (atomically: temp file, fsync, rename).
// Ids of founding members are derived from their peer URLs and the cluster token, so every
// founding member computes the same ids without talking; ids of added members are random.

import { createHash, randomInt } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Ids stay below 2^52 so they are exact JavaScript numbers and positive on the wire. */
const ID_MASK = 2 ** 52 - 1;

export interface Identity {
  readonly memberId: number;
  readonly clusterId: number;
  readonly name: string;
}

function idFromHash(parts: readonly string[]): number {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  const id = Number(h.digest().readBigUInt64BE(0) & BigInt(ID_MASK));
  return id === 0 ? 1 : id;
}

/** A founding member's id: the same on every member that starts with the same --initial-cluster. */
export function foundingMemberId(peerURLs: readonly string[], clusterToken: string): number {
  return idFromHash(['member', ...[...peerURLs].sort(), clusterToken]);
}

export function clusterIdOf(memberIds: readonly number[], clusterToken: string): number {
  return idFromHash(['cluster', ...[...memberIds].sort((a, b) => a - b).map(String), clusterToken]);
}

/** A fresh id for a member added at run time, avoiding `taken`. */
export function randomMemberId(taken: (id: number) => boolean): number {
  for (;;) {
    const id = randomInt(1, 2 ** 47) * 32 + randomInt(0, 32);
    if (id > 0 && id <= ID_MASK && !taken(id)) return id;
  }
}

const IDENTITY_FILE = 'identity.json';

export async function readIdentity(memberDir: string): Promise<Identity | null> {
  let text: string;
  try {
    text = await readFile(join(memberDir, IDENTITY_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const o = JSON.parse(text) as Partial<Identity>;
  if (typeof o.memberId !== 'number' || typeof o.clusterId !== 'number' || typeof o.name !== 'string')
    throw new Error(`${join(memberDir, IDENTITY_FILE)} is not a netcd identity file`);
  return { memberId: o.memberId, clusterId: o.clusterId, name: o.name };
}

export async function writeIdentity(memberDir: string, id: Identity): Promise<void> {
  await mkdir(memberDir, { recursive: true });
  const tmp = join(memberDir, `${IDENTITY_FILE}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(id)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(memberDir, IDENTITY_FILE));
  const dir = await open(memberDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
