// Mutual exclusion on the server's Lock service. Holding a lock is only as good as its lease:
// `signal` aborts when the lease may have expired, and `fencingToken` — the create revision of
// the lock key, which grows with every new holder — lets the protected resource refuse a
// holder that has been superseded. Pass the token with every write to the resource, and have
// the resource reject tokens lower than the highest it has seen (or, when the resource is netcd
// itself, guard writes with a txn comparing the lock key's create revision).

import type { Connections } from './connections.js';
import { LeaseLostError, NetcdError } from './errors.js';
import { getResult, rangeRequest, type WireRangeResponse } from './kv.js';
import type { Lease } from './lease.js';
import { openSession, type Session, type SessionOptions } from './session.js';
import { type Bytes, idOut, toBuffer, type WireHeader } from './wire.js';

export interface LockOptions extends SessionOptions {
  /** Give up waiting for the lock after this long (default: wait until the signal fires). */
  readonly timeoutMs?: number;
}

export class Lock {
  constructor(
    private readonly conns: Connections,
    private readonly session: Session,
    /** The key that represents this holder (name/lease-id). */
    readonly key: Buffer,
    /** Create revision of `key`: increases with each acquisition of the lock. */
    readonly fencingToken: number,
  ) {}

  get lease(): Lease {
    return this.session.lease;
  }

  /** Aborted when the lease may have run out: stop acting as the holder. */
  get signal(): AbortSignal {
    return this.session.lease.signal;
  }

  async unlock(): Promise<void> {
    try {
      await this.conns.unary('Lock', 'Unlock', { key: this.key }, { idempotent: true });
    } finally {
      await this.session.end();
    }
  }
}

const FOREVER_MS = 2 ** 31 - 1;

export async function acquireLock(conns: Connections, name: Bytes, o: LockOptions = {}): Promise<Lock> {
  const session = await openSession(conns, o);
  try {
    const signal = AbortSignal.any([session.lease.signal, ...(o.signal ? [o.signal] : [])]);
    const res = await conns.unary<{ header: WireHeader; key: Buffer }>(
      'Lock',
      'Lock',
      { name: toBuffer(name), lease: idOut(session.lease.id) },
      // Waiting again for the same lock on the same lease is harmless: the key is the same.
      { idempotent: true, signal, timeoutMs: o.timeoutMs ?? FOREVER_MS },
    );
    const got = getResult(
      await conns.unary<WireRangeResponse>('KV', 'Range', rangeRequest(res.key), { idempotent: true }),
    );
    const kv = got.kvs[0];
    if (kv === undefined || kv.lease !== session.lease.id)
      throw new LeaseLostError(session.lease.id, 'expired');
    return new Lock(conns, session, res.key, kv.createRevision);
  } catch (err) {
    await session.end();
    if (session.lease.isLost && !(err instanceof NetcdError && err.code === 'LEASE_LOST'))
      throw session.lease.signal.reason;
    throw err;
  }
}
