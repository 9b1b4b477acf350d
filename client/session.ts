// The lease a lock or a leadership lives on: either one the caller passes in (and keeps) or one
// made for the occasion, kept alive, and revoked when the lock or leadership ends.

import type { Connections } from './connections.js';
import { grantLease, type Lease } from './lease.js';

/** etcd's default session TTL (seconds), as etcdctl lock and elect use. */
export const DEFAULT_SESSION_TTL = 60;

export interface SessionOptions {
  /** Hold on this lease instead of granting one; the caller stays its owner. */
  readonly lease?: Lease;
  /** TTL in seconds of the lease granted when none is passed. */
  readonly ttl?: number;
  readonly signal?: AbortSignal;
}

export interface Session {
  readonly lease: Lease;
  /** Revokes the lease if this session made it; leaves a caller's lease alone. */
  end(): Promise<void>;
}

export async function openSession(conns: Connections, o: SessionOptions): Promise<Session> {
  if (o.lease !== undefined) {
    const lease = o.lease;
    return { lease, end: async () => {} };
  }
  const lease = await grantLease(conns, o.ttl ?? DEFAULT_SESSION_TTL, o.signal ? { signal: o.signal } : {});
  return {
    lease,
    end: async () => {
      await lease.revoke().catch(() => lease.close());
    },
  };
}
