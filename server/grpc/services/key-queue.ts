// The queue discipline behind Lock and Election: contenders put keys under a shared prefix and the
// key with the lowest create revision is at the head. A contender waits for every older key to be
// deleted, watching only its immediate predecessor each time. Also the lease "session" etcd's
// server-side lock and election keep alive while a caller waits.

import { prefixEnd } from '../../../kv/keys.js';
import type { Bytes, KeyValue, RangeRequest } from '../../../kv/types.js';
import type { CallOptions, Member } from '../../api.js';
import { HubSubscription } from './hub-subscription.js';

/** etcd's default session TTL, for callers that name no lease. */
export const DEFAULT_SESSION_TTL_SECONDS = 60;
/** A session renews its lease every TTL / 3, but not more often than this. */
const MIN_RENEW_INTERVAL_MS = 500;

/** Every key under `prefix`. */
export function prefixRange(prefix: Bytes): Pick<RangeRequest, 'key' | 'rangeEnd'> {
  return { key: prefix, rangeEnd: prefixEnd(prefix) };
}

/** The head of the queue under `prefix` (lowest create revision), with the read's revision. */
export async function queueHead(
  member: Member,
  prefix: Bytes,
  opts: CallOptions,
): Promise<{ readonly head: KeyValue | undefined; readonly revision: number }> {
  const r = await member.range(
    { ...prefixRange(prefix), sortTarget: 'create', sortOrder: 'ascend', limit: 1 },
    opts,
  );
  return { head: r.kvs[0], revision: r.revision };
}

/**
 * Waits until no key under `prefix` has a create revision at or below `maxCreateRevision`;
 * resolves with the revision of the read that found none.
 */
export async function waitDeletes(
  member: Member,
  prefix: Bytes,
  maxCreateRevision: number,
  signal: AbortSignal,
): Promise<number> {
  // Revision 0 means "no bound" to a range: nothing can be older than the first revision anyway.
  if (maxCreateRevision < 1) return member.header().revision;
  for (;;) {
    const r = await member.range(
      { ...prefixRange(prefix), maxCreateRevision, sortTarget: 'create', sortOrder: 'descend', limit: 1 },
      { signal },
    );
    const predecessor = r.kvs[0];
    if (predecessor === undefined) return r.revision;
    await waitDelete(member, predecessor.key, r.revision + 1, signal);
  }
}

/**
 * Resolves when `key` is deleted at or after `fromRevision`, or when the hub ends the watch (a
 * compaction): the caller reads again either way, so an early return is never wrong.
 */
async function waitDelete(
  member: Member,
  key: Bytes,
  fromRevision: number,
  signal: AbortSignal,
): Promise<void> {
  const sub = new HubSubscription(member.watchHub, { key, startRevision: fromRevision, noPut: true });
  try {
    for (;;) {
      const resp = await sub.next(signal);
      if (resp.canceled === true || resp.events.some((ev) => ev.type === 'delete')) return;
    }
  } finally {
    sub.close();
  }
}

/** The lease a call holds its key with: the one it named, or a fresh one like etcd's default session. */
export async function sessionLease(member: Member, lease: number, opts: CallOptions): Promise<number> {
  if (lease !== 0) return lease;
  return (await member.leaseGrant(0, DEFAULT_SESSION_TTL_SECONDS, opts)).id;
}

/**
 * Renews `lease` until `signal` fires, as etcd's session does while a caller waits. Failures end
 * the renewals quietly: a lease that is gone shows up in the caller's own requests.
 */
export function keepLeaseAlive(member: Member, lease: number, signal: AbortSignal): void {
  let timer: NodeJS.Timeout | undefined;
  const renew = async (): Promise<void> => {
    if (signal.aborted) return;
    try {
      const ttlSeconds = await member.leaseKeepAlive(lease, { signal });
      if (ttlSeconds <= 0 || signal.aborted) return;
      timer = setTimeout(renew, Math.max((ttlSeconds * 1000) / 3, MIN_RENEW_INTERVAL_MS));
    } catch {
      // Stop renewing; see above.
    }
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  void renew();
}

/**
 * A signal for one wait: it fires when `parent` (the call) does, or when `done()` is called once
 * the wait is over, which also stops the renewals tied to it.
 */
export function waitScope(parent: AbortSignal): { readonly signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  if (parent.aborted) controller.abort();
  else parent.addEventListener('abort', stop, { once: true });
  return {
    signal: controller.signal,
    done: () => {
      parent.removeEventListener('abort', stop);
      controller.abort();
    },
  };
}

/** etcd's key for a contender: prefix + lease id in lower-case hex. */
export function contenderKey(prefix: Bytes, lease: number): Uint8Array {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}

/** name + "/": the prefix every contender's key lives under. */
export function queuePrefix(name: Bytes): Uint8Array {
  return Buffer.concat([name, Buffer.from('/')]);
}
