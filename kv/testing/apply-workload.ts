// A deterministic stream of replicated kv requests, one per raft index: the same (seed, index)
// always gives the same request, so a crashed writer and the checker replaying it agree exactly.

import { Prng } from '../../raft/prng.js';
import { LeaseTable } from '../lease/lessor.js';
import { encodeEnvelope, type KvRequest } from '../request.js';
import { KvStateMachine } from '../state-machine.js';

const enc = new TextEncoder();

export function newStateMachine(): KvStateMachine {
  return new KvStateMachine((snap) => (snap === null ? new LeaseTable() : LeaseTable.restore(snap)));
}

/** The entry at raft index `index`: mostly multi-key txns, some deletes, leases and compactions. */
export function workloadEntry(seed: number, index: number, currentRevision: number): Uint8Array {
  const rng = new Prng((seed * 1_000_003 + index) >>> 0);
  const roll = rng.int(20);
  let request: KvRequest;
  if (roll < 12) {
    const n = 1 + rng.int(4);
    const keys = new Set<number>();
    while (keys.size < n) keys.add(rng.int(10));
    request = {
      txn: {
        compare: [],
        success: [...keys].map((k) => ({
          put: { key: enc.encode(`k${k}`), value: enc.encode(`${index}:${k}:${'x'.repeat(rng.int(200))}`) },
        })),
        failure: [],
      },
    };
  } else if (roll < 14) {
    request = {
      deleteRange: { key: enc.encode(`k${rng.int(10)}`), rangeEnd: enc.encode(`k${rng.int(10)}z`) },
    };
  } else if (roll < 16) {
    request = { leaseGrant: { id: index, ttlSeconds: 60 } };
  } else if (roll < 18 && index > 3) {
    request = {
      put: {
        key: enc.encode(`lk${rng.int(5)}`),
        value: enc.encode(String(index)),
        lease: index - 1 - rng.int(3),
      },
    };
  } else if (roll < 19 && currentRevision > 5) {
    request = { compaction: { revision: currentRevision - rng.int(5) } };
  } else {
    request = { leaseRevoke: { id: index - 1 - rng.int(5) } };
  }
  return encodeEnvelope({ requestId: String(index), request });
}
