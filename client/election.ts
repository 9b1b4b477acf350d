// Leader election on the server's Election service: campaign blocks until this candidate leads,
// the leadership lives on a lease (its `signal` aborts when the lease may have run out), and the
// leader key's create revision is the fencing token of the term (see client/lock.ts).

import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CallOptions, Connections } from './connections.js';
import { fromGrpcError, NetcdError } from './errors.js';
import type { Lease } from './lease.js';
import { openSession, type Session, type SessionOptions } from './session.js';
import { backoff, sleep } from './sleep.js';
import {
  type Bytes,
  idOut,
  type KeyValue,
  keyValue,
  toBuffer,
  toId,
  toNumber,
  type WireHeader,
  type WireInt,
  type WireKeyValue,
} from './wire.js';

interface WireLeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: WireInt;
  readonly lease: WireInt;
}

interface WireLeaderResponse {
  readonly header: WireHeader;
  readonly kv: WireKeyValue | null;
}

export interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: number;
  readonly lease: bigint;
}

export interface CampaignOptions extends SessionOptions {
  readonly timeoutMs?: number;
}

const FOREVER_MS = 2 ** 31 - 1;

export class Leadership {
  constructor(
    private readonly conns: Connections,
    private readonly session: Session,
    readonly leader: LeaderKey,
  ) {}

  /** Create revision of the leader key: grows with every new term. */
  get fencingToken(): number {
    return this.leader.rev;
  }

  get lease(): Lease {
    return this.session.lease;
  }

  get signal(): AbortSignal {
    return this.session.lease.signal;
  }

  /** Publishes a new value as the leader, without a new election. */
  async proclaim(value: Bytes, o: CallOptions = {}): Promise<void> {
    await this.conns.unary(
      'Election',
      'Proclaim',
      { leader: this.wireKey(), value: toBuffer(value) },
      {
        ...o,
        idempotent: true,
      },
    );
  }

  async resign(o: CallOptions = {}): Promise<void> {
    try {
      await this.conns.unary('Election', 'Resign', { leader: this.wireKey() }, { ...o, idempotent: true });
    } finally {
      await this.session.end();
    }
  }

  private wireKey(): object {
    const l = this.leader;
    return { name: l.name, key: l.key, rev: l.rev, lease: idOut(l.lease) };
  }
}

export async function campaign(
  conns: Connections,
  name: Bytes,
  value: Bytes,
  o: CampaignOptions = {},
): Promise<Leadership> {
  const session = await openSession(conns, o);
  try {
    const signal = AbortSignal.any([session.lease.signal, ...(o.signal ? [o.signal] : [])]);
    const res = await conns.unary<{ header: WireHeader; leader: WireLeaderKey }>(
      'Election',
      'Campaign',
      { name: toBuffer(name), lease: idOut(session.lease.id), value: toBuffer(value) },
      { idempotent: true, signal, timeoutMs: o.timeoutMs ?? FOREVER_MS },
    );
    const l = res.leader;
    return new Leadership(conns, session, {
      name: l.name,
      key: l.key,
      rev: toNumber(l.rev),
      lease: toId(l.lease),
    });
  } catch (err) {
    await session.end();
    throw err;
  }
}

/** The current leader's key-value, or undefined when nobody leads. */
export async function currentLeader(
  conns: Connections,
  name: Bytes,
  o: CallOptions = {},
): Promise<KeyValue | undefined> {
  try {
    const res = await conns.unary<WireLeaderResponse>(
      'Election',
      'Leader',
      { name: toBuffer(name) },
      { ...o, idempotent: true },
    );
    return res.kv ? keyValue(res.kv) : undefined;
  } catch (err) {
    if (err instanceof NetcdError && err.message.includes('no leader')) return undefined;
    throw err;
  }
}

/** Every change of leadership (and proclaimed value), reconnecting when a member goes away. */
export async function* observe(
  conns: Connections,
  name: Bytes,
  o: { readonly signal?: AbortSignal } = {},
): AsyncGenerator<KeyValue> {
  let failures = 0;
  let avoid: string | undefined;
  let lastRevision = 0;
  const aborted = (): boolean => o.signal?.aborted === true;
  while (!aborted()) {
    let call: ClientReadableStream<WireLeaderResponse>;
    let endpoint: string;
    try {
      ({ call, endpoint } = await conns.serverStream<WireLeaderResponse>(
        'Election',
        'Observe',
        { name: toBuffer(name) },
        { signal: o.signal, avoid },
      ));
    } catch (err) {
      if (aborted()) return;
      failures += 1;
      if (!(err instanceof NetcdError) || err.code !== 'UNAVAILABLE') throw err;
      await sleep(backoff(failures, 50, 2000), o.signal);
      continue;
    }
    const onAbort = (): void => call.cancel();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const res of call as AsyncIterable<WireLeaderResponse>) {
        if (!res.kv) continue;
        const kv = keyValue(res.kv);
        failures = 0;
        // After a reconnect the stream starts with the current leader again: skip what was seen.
        if (kv.modRevision <= lastRevision) continue;
        lastRevision = kv.modRevision;
        yield kv;
      }
      avoid = endpoint;
    } catch (err) {
      if (aborted()) return;
      const e = fromGrpcError(err, true);
      if (e.code !== 'UNAVAILABLE' && e.code !== 'CANCELLED' && e.code !== 'INTERNAL') throw e;
      conns.reportFailure(endpoint);
      avoid = endpoint;
      failures += 1;
      await sleep(backoff(failures, 50, 2000), o.signal);
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }
}
