// The IPAM backend of the plugin process: client/ipam over a netcd client built from the ipam
// section. Each host-local range becomes a pool named after the network and the subnet
// (`<network>:<subnet>`), created on first use and checked against its definition after; a range
// set is served by its ranges' pools in order, so one address comes from the first with room.

import { readFile } from 'node:fs/promises';
import { NetcdError } from '../errors.js';
import { contains, parseIp } from '../ipam/cidr.js';
import { type AddressRecord, Ipam, IpamError } from '../ipam/ipam.js';
import { blockName } from '../ipam/keys.js';
import type { Pool } from '../ipam/pool.js';
import { Netcd } from '../netcd.js';
import {
  type AllocatedAddress,
  type AllocateRequest,
  type AttachmentHandle,
  type CniAllocator,
  CniAllocatorError,
  PoolConflictError,
  PoolExhaustedError,
  PoolNotFoundError,
  type RangeSpec,
  RequestedAddressUnavailableError,
  StoreUnreachableError,
} from './allocator.js';
import type { IpamPluginConfig } from './config.js';

/** An attachment missing from the runtime's list is released only after this long (an ADD in flight). */
const GC_GRACE_MS = 60_000;

export function rangePoolName(network: string, range: RangeSpec): string {
  return `${network}:${blockName(range.subnet)}`;
}

/** Library errors as the plugin's typed errors (which carry the CNI codes). */
function translate(err: unknown): unknown {
  if (err instanceof IpamError) {
    if (err.code === 'POOL_EXHAUSTED') return new PoolExhaustedError(err.message);
    if (err.code === 'ADDRESS_UNAVAILABLE') return new RequestedAddressUnavailableError(err.message);
    if (err.code === 'POOL_NOT_FOUND') return new PoolNotFoundError(err.message);
    if (err.code === 'POOL_EXISTS') return new PoolConflictError(err.message);
    return new CniAllocatorError(err.message);
  }
  if (err instanceof NetcdError && err.grpcCode === undefined) return new StoreUnreachableError(err.message);
  if (
    err instanceof NetcdError &&
    ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'NO_LEADER', 'TIMEOUT'].includes(err.code)
  )
    return new StoreUnreachableError(`netcd unreachable: ${err.message}`);
  return err;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err);
  }
}

function toResult(a: AddressRecord): AllocatedAddress {
  const out = { address: `${a.address}/${a.prefixLength}`, version: a.family };
  return a.gateway === null ? out : { ...out, gateway: a.gateway };
}

function holds(pool: Pool, ip: string): boolean {
  const p = parseIp(ip);
  return contains(pool.cidr, p.family, p.value);
}

class NetcdCniAllocator implements CniAllocator {
  constructor(
    private readonly client: Netcd,
    private readonly ipam: Ipam,
    private readonly config: IpamPluginConfig,
  ) {}

  allocate(request: AllocateRequest, signal: AbortSignal): Promise<AllocatedAddress[]> {
    return guarded(async () => {
      const before = await this.ipam.getHandle(request.handle);
      // Each range set and each named pool yields one address; a set's ranges are its pools.
      const groups: Pool[][] = [];
      for (const set of request.ranges)
        groups.push(
          await Promise.all(
            set.map((r) =>
              this.ipam.ensurePool({
                name: rangePoolName(request.handle.network, r),
                cidr: r.subnet,
                rangeStart: r.rangeStart,
                rangeEnd: r.rangeEnd,
                gateway: r.gateway,
              }),
            ),
          ),
        );
      for (const name of request.pools) groups.push([await this.ipam.getPool(name)]);
      const out: AllocatedAddress[] = [];
      try {
        for (const pools of groups) {
          const requested = request.requestedIps.find((ip) => pools.some((p) => holds(p, ip)));
          const record = await this.ipam.allocate(
            request.handle,
            pools.map((p) => p.name),
            requested === undefined ? { signal } : { signal, requested },
          );
          out.push(toResult(record));
        }
      } catch (err) {
        // All or nothing: an attachment that held nothing before holds nothing after a failure.
        if (before === undefined) await this.ipam.release(request.handle).catch(() => {});
        throw err;
      }
      return out;
    });
  }

  release(handle: AttachmentHandle, signal: AbortSignal): Promise<void> {
    return guarded(async () => {
      await this.ipam.release(handle, { signal });
    });
  }

  check(handle: AttachmentHandle): Promise<AllocatedAddress[] | null> {
    return guarded(async () => {
      const h = await this.ipam.getHandle(handle);
      return h === undefined || h.addresses.length === 0 ? null : h.addresses.map(toResult);
    });
  }

  gc(network: string, valid: readonly AttachmentHandle[]): Promise<number> {
    return guarded(() => this.ipam.gc(network, valid, GC_GRACE_MS));
  }

  status(): Promise<void> {
    return guarded(async () => {
      await this.client.get(this.ipam.keys.pools(), { prefix: true, countOnly: true });
      for (const name of this.config.pools) await this.ipam.getPool(name);
    });
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

async function readTls(config: IpamPluginConfig): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer }> {
  const t = config.tls;
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (t.trustedCaFile !== undefined) out.ca = await readFile(t.trustedCaFile);
  if (t.certFile !== undefined) out.cert = await readFile(t.certFile);
  if (t.keyFile !== undefined) out.key = await readFile(t.keyFile);
  return out;
}

export async function createCniAllocator(
  config: IpamPluginConfig,
  _signal: AbortSignal,
): Promise<CniAllocator> {
  const client = new Netcd({
    endpoints: config.endpoints,
    dialTimeoutMs: config.dialTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    tls: await readTls(config),
  });
  return new NetcdCniAllocator(client, new Ipam(client, { node: config.nodeName }), config);
}
