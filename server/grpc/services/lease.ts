// etcd's Lease service. Keep-alives arrive on a bidirectional stream and are answered one by one,
// in order; an unknown lease is answered with TTL 0 (as etcd does) rather than ending the stream.
// The stream stops reading while too many renewals are waiting, so a flood stays bounded.

import type { ServerDuplexStream } from '@grpc/grpc-js';
import { isKvError } from '../../../kv/errors.js';
import type { Member } from '../../api.js';
import { headerOut } from '../convert.js';
import { int64 } from '../int64.js';
import { StreamWriter, unary } from '../rpc.js';
import type {
  WireHeader,
  WireHeaderOnly,
  WireLeaseGrantRequest,
  WireLeaseIdRequest,
  WireLeaseTimeToLiveRequest,
} from '../wire-types.js';

/** Renewals queued on one stream before it stops reading from the client. */
export const MAX_PENDING_KEEPALIVES = 64;

interface WireLeaseGrantResponse {
  readonly header: WireHeader;
  readonly ID: number;
  readonly TTL: number;
  readonly error: string;
}

interface WireLeaseKeepAliveResponse {
  readonly header: WireHeader;
  readonly ID: number;
  readonly TTL: number;
}

interface WireLeaseTimeToLiveResponse {
  readonly header: WireHeader;
  readonly ID: number;
  readonly TTL: number;
  readonly grantedTTL: number;
  readonly keys: readonly Uint8Array[];
}

interface WireLeaseLeasesResponse {
  readonly header: WireHeader;
  readonly leases: readonly { readonly ID: number }[];
}

export function leaseService(member: Member) {
  return {
    LeaseGrant: unary<WireLeaseGrantRequest, WireLeaseGrantResponse>(async (req, ctx) => {
      const granted = await member.leaseGrant(int64(req.ID, 'ID'), int64(req.TTL, 'TTL'), ctx);
      return { header: headerOut(member.header()), ID: granted.id, TTL: granted.ttlSeconds, error: '' };
    }),

    LeaseRevoke: unary<WireLeaseIdRequest, WireHeaderOnly>(async (req, ctx) => {
      await member.leaseRevoke(int64(req.ID, 'ID'), ctx);
      return { header: headerOut(member.header()) };
    }),

    LeaseTimeToLive: unary<WireLeaseTimeToLiveRequest, WireLeaseTimeToLiveResponse>(async (req, ctx) => {
      const id = int64(req.ID, 'ID');
      try {
        const ttl = await member.leaseTimeToLive(id, req.keys, ctx);
        return {
          header: headerOut(member.header()),
          ID: id,
          TTL: ttl.ttlSeconds,
          grantedTTL: ttl.grantedTtlSeconds,
          keys: ttl.keys,
        };
      } catch (err) {
        // etcd reports a missing lease as expired rather than as an error.
        if (!isKvError(err, 'LEASE_NOT_FOUND')) throw err;
        return { header: headerOut(member.header()), ID: id, TTL: -1, grantedTTL: 0, keys: [] };
      }
    }),

    LeaseLeases: unary<Record<string, never>, WireLeaseLeasesResponse>(async (_req, ctx) => {
      const ids = await member.leaseList(ctx);
      return { header: headerOut(member.header()), leases: ids.map((id) => ({ ID: id })) };
    }),

    LeaseKeepAlive: (call: ServerDuplexStream<WireLeaseIdRequest, WireLeaseKeepAliveResponse>): void => {
      keepAliveStream(member, call);
    },
  };
}

function keepAliveStream(
  member: Member,
  call: ServerDuplexStream<WireLeaseIdRequest, WireLeaseKeepAliveResponse>,
): void {
  const out = new StreamWriter(call);
  const controller = new AbortController();
  const pending: WireLeaseIdRequest[] = [];
  let running = false;
  let inputEnded = false;

  const stop = (): void => controller.abort();
  call.on('cancelled', stop);
  call.on('error', stop);
  call.on('close', stop);
  call.on('end', () => {
    inputEnded = true;
    if (!running) out.end();
  });
  call.on('data', (req: WireLeaseIdRequest) => {
    pending.push(req);
    if (pending.length >= MAX_PENDING_KEEPALIVES) call.pause();
    if (!running) void drain();
  });

  async function drain(): Promise<void> {
    running = true;
    try {
      for (let req = pending.shift(); req !== undefined; req = pending.shift()) {
        if (pending.length < MAX_PENDING_KEEPALIVES && call.isPaused()) call.resume();
        const id = int64(req.ID, 'ID');
        let ttl: number;
        try {
          ttl = await member.leaseKeepAlive(id, { signal: controller.signal });
        } catch (err) {
          if (!isKvError(err, 'LEASE_NOT_FOUND')) throw err;
          ttl = 0;
        }
        if (controller.signal.aborted) return;
        const drained = out.write({ header: headerOut(member.header()), ID: id, TTL: ttl });
        if (drained !== undefined) await drained;
      }
      if (inputEnded) out.end();
    } catch (err) {
      out.fail(err);
      controller.abort();
    } finally {
      running = false;
    }
  }
}
