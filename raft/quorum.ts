// Quorum arithmetic: the commit index a majority (or a joint pair of majorities) has reached,
// and the outcome of an election. An empty majority agrees to everything, which makes a joint
// config with an empty outgoing half behave like its incoming half.

import type { NodeId } from './types.js';

export type VoteResult = 'pending' | 'lost' | 'won';

export function majorityCommitted(voters: ReadonlySet<NodeId>, matchOf: (id: NodeId) => number): number {
  const n = voters.size;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  const acked: number[] = [];
  for (const id of voters) acked.push(matchOf(id));
  acked.sort((a, b) => b - a);
  return acked[Math.floor(n / 2)]!;
}

export function majorityVote(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return 'won';
  if (yes + missing >= q) return 'pending';
  return 'lost';
}

export type JointVoters = readonly [ReadonlySet<NodeId>, ReadonlySet<NodeId>];

export function jointCommitted(voters: JointVoters, matchOf: (id: NodeId) => number): number {
  return Math.min(majorityCommitted(voters[0], matchOf), majorityCommitted(voters[1], matchOf));
}

export function jointVote(voters: JointVoters, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(voters[0], votes);
  const b = majorityVote(voters[1], votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
