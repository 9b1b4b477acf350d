// A granted lease, kept alive automatically. Loss is decided by deadline, not only by errors: the
// client keeps the latest moment by which the lease is certain to be alive — the send time of the
// last confirmed renewal plus the TTL the server granted then (the server's countdown started
// later, so this errs early). When that moment passes without a newer confirmation the lease is
// reported lost, even if no stream ever failed: a partitioned client learns it in time to stop
// acting as the holder. `signal` aborts at that moment, so work tied to the lease can stop.

import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { CallOptions, Connections } from './connections.js';
import { LeaseLostError, NetcdError } from './errors.js';
import { backoff, sleep } from './sleep.js';
import { header, idOut, type ResponseHeader, toId, toNumber, type WireHeader, type WireInt } from './wire.js';

export interface LeaseOptions extends CallOptions {
  /** Ask for this id (0 or absent: the server picks). */
  readonly id?: bigint;
  /** Renew automatically until revoked or closed (default true). */
  readonly keepAlive?: boolean;
}

export interface TimeToLive {
  readonly header: ResponseHeader;
  readonly id: bigint;
  /** Seconds left; -1 when the lease does not exist (expired or revoked). */
  readonly ttl: number;
  readonly grantedTtl: number;
  readonly keys: readonly Buffer[];
}

interface WireGrantResponse {
  readonly header: WireHeader;
  readonly ID: WireInt;
  readonly TTL: WireInt;
  readonly error: string;
}

interface WireKeepAliveResponse {
  readonly header: WireHeader;
  readonly ID: WireInt;
  readonly TTL: WireInt;
}

interface WireTimeToLiveResponse {
  readonly header: WireHeader;
  readonly ID: WireInt;
  readonly TTL: WireInt;
  readonly grantedTTL: WireInt;
  readonly keys: readonly Buffer[];
}

const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 1000;

export async function grantLease(
  conns: Connections,
  ttlSeconds: number,
  o: LeaseOptions = {},
): Promise<Lease> {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new NetcdError(
      'INVALID_ARGUMENT',
      `lease TTL must be a positive integer, got ${ttlSeconds}`,
      'not-applied',
    );
  const sentAt = Date.now();
  const res = await conns.unary<WireGrantResponse>(
    'Lease',
    'LeaseGrant',
    { TTL: ttlSeconds, ID: idOut(o.id ?? 0n) },
    { ...o, idempotent: false },
  );
  if (res.error) throw new NetcdError('UNKNOWN', res.error, 'unknown');
  const lease = new Lease(conns, toId(res.ID), toNumber(res.TTL), sentAt);
  if (o.keepAlive !== false) lease.startKeepAlive();
  return lease;
}

export async function leaseTimeToLive(
  conns: Connections,
  id: bigint,
  o: CallOptions & { readonly keys?: boolean } = {},
): Promise<TimeToLive> {
  const res = await conns.unary<WireTimeToLiveResponse>(
    'Lease',
    'LeaseTimeToLive',
    { ID: idOut(id), keys: o.keys ?? false },
    { ...o, idempotent: true },
  );
  return {
    header: header(res.header),
    id: toId(res.ID),
    ttl: toNumber(res.TTL),
    grantedTtl: toNumber(res.grantedTTL),
    keys: res.keys,
  };
}

export async function revokeLease(
  conns: Connections,
  id: bigint,
  o: CallOptions = {},
): Promise<ResponseHeader> {
  const res = await conns.unary<{ header: WireHeader }>(
    'Lease',
    'LeaseRevoke',
    { ID: idOut(id) },
    {
      ...o,
      idempotent: true,
    },
  );
  return header(res.header);
}

export class Lease {
  private readonly lostController = new AbortController();
  private readonly stop = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Latest moment (ms since the epoch) by which the lease is certainly still alive. */
  expiresAt: number;
  /** Renewals confirmed by the server. */
  renewals = 0;
  readonly lost: Promise<LeaseLostError>;

  constructor(
    private readonly conns: Connections,
    readonly id: bigint,
    readonly ttl: number,
    grantedAt: number,
  ) {
    this.expiresAt = grantedAt + ttl * 1000;
    this.lost = new Promise((resolve) =>
      this.lostController.signal.addEventListener(
        'abort',
        () => resolve(this.lostController.signal.reason as LeaseLostError),
        { once: true },
      ),
    );
    this.armDeadline();
  }

  /** Aborted, with a LeaseLostError as its reason, once the lease may have run out. */
  get signal(): AbortSignal {
    return this.lostController.signal;
  }

  get isLost(): boolean {
    return this.lostController.signal.aborted;
  }

  /** Renews the lease in the background until it is revoked, closed or lost. */
  startKeepAlive(): void {
    if (this.running || this.isLost) return;
    this.running = true;
    void this.keepAliveLoop();
  }

  async timeToLive(o: CallOptions & { readonly keys?: boolean } = {}): Promise<TimeToLive> {
    return leaseTimeToLive(this.conns, this.id, o);
  }

  /** Revokes the lease: its keys are deleted at once. Revoking a lease that is already gone succeeds. */
  async revoke(o: CallOptions = {}): Promise<void> {
    this.stop.abort();
    try {
      await revokeLease(this.conns, this.id, o);
    } catch (err) {
      if (!(err instanceof NetcdError && err.code === 'LEASE_NOT_FOUND')) throw err;
    }
    this.lose('revoked');
  }

  /** Stops renewing without revoking: the lease runs out after its TTL. */
  close(): void {
    this.stop.abort();
    this.lose('closed');
  }

  private lose(reason: LeaseLostError['reason']): void {
    this.stop.abort();
    clearTimeout(this.deadlineTimer);
    if (!this.isLost) this.lostController.abort(new LeaseLostError(this.id, reason));
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.lose('deadline'), Math.max(0, this.expiresAt - Date.now()));
  }

  private async keepAliveLoop(): Promise<void> {
    const stop = this.stop.signal;
    const interval = Math.max(100, (this.ttl * 1000) / 3);
    let failures = 0;
    let avoid: string | undefined;
    while (!stop.aborted && !this.isLost) {
      let opened: { call: ClientDuplexStream<object, WireKeepAliveResponse>; endpoint: string };
      try {
        opened = await this.conns.duplex<object, WireKeepAliveResponse>('Lease', 'LeaseKeepAlive', {
          signal: stop,
          avoid,
          timeoutMs: Math.max(1, this.expiresAt - Date.now()),
        });
      } catch {
        failures += 1;
        await sleep(backoff(failures, RETRY_BASE_MS, RETRY_MAX_MS), stop);
        continue;
      }
      const { call, endpoint } = opened;
      const onStop = (): void => call.cancel();
      stop.addEventListener('abort', onStop, { once: true });
      const responses = (call as AsyncIterable<WireKeepAliveResponse>)[Symbol.asyncIterator]();
      try {
        while (!stop.aborted) {
          const sentAt = Date.now();
          call.write({ ID: idOut(this.id) });
          const next = await responses.next();
          if (next.done === true) break;
          const ttl = toNumber(next.value.TTL);
          if (ttl <= 0) {
            this.lose('expired');
            return;
          }
          // A late answer to an old request must not move the deadline back: take the later one.
          this.expiresAt = Math.max(this.expiresAt, sentAt + ttl * 1000);
          this.renewals += 1;
          failures = 0;
          this.armDeadline();
          await sleep(interval, stop);
        }
        avoid = endpoint;
      } catch {
        if (stop.aborted) return;
        this.conns.reportFailure(endpoint);
        avoid = endpoint;
        failures += 1;
        await sleep(backoff(failures, RETRY_BASE_MS, RETRY_MAX_MS), stop);
      } finally {
        stop.removeEventListener('abort', onStop);
        call.cancel();
      }
    }
  }
}
