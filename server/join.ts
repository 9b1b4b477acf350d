// A member started with --initial-cluster-state existing learns the cluster it joins from the
// running members: GET /members on their peer URLs (the peer port answers it, as etcd's does)
// gives the cluster id and the member list, where `member add` has already put this member.

import type { Logger } from 'pino';
import type { MemberRecord } from '../kv/members.js';
import { StartupError } from './bootstrap.js';

/** The path the peer listener answers with the membership (see transport's HTTP sniffing). */
export const MEMBERS_PATH = '/members';

export interface ClusterInfo {
  readonly clusterId: number;
  readonly members: readonly MemberRecord[];
}

const FETCH_TIMEOUT_MS = 2000;
/** Attempts over all peers before giving up (the cluster may still be electing). */
const MAX_ROUNDS = 10;
const ROUND_PAUSE_MS = 500;

function isClusterInfo(v: unknown): v is ClusterInfo {
  const o = v as Partial<ClusterInfo> | null;
  return typeof o?.clusterId === 'number' && Array.isArray(o.members);
}

export async function fetchClusterFromPeers(
  peerURLs: readonly string[],
  logger: Logger,
): Promise<ClusterInfo> {
  if (peerURLs.length === 0) throw new StartupError('cannot join: --initial-cluster names no other member');
  for (let round = 0; round < MAX_ROUNDS; round++) {
    for (const url of peerURLs) {
      try {
        const res = await fetch(new URL(MEMBERS_PATH, url), {
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
        const body: unknown = await res.json();
        if (res.ok && isClusterInfo(body)) return body;
      } catch (err) {
        logger.debug({ err, url }, 'fetching the membership failed; trying the next peer');
      }
    }
    await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
  }
  throw new StartupError(`cannot join: no member answered at ${peerURLs.join(',')}`);
}
