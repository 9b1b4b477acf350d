// Per-node subnet leases, flannel-style: the cluster network (say 10.244.0.0/16) is cut into
// per-node subnets (say /24); a node holds one through a key bound to a netcd lease, renewed by
// keep-alive, so a node that dies loses its subnet when the lease runs out, and a node that
// restarts in time gets the same subnet back. Other nodes follow the set of subnets through an
// informer (routes to every peer's pod subnet, see netcd-agent).

import type { Informer } from '../informer.js';
import type { Lease } from '../lease.js';
import type { Netcd } from '../netcd.js';
import { compare, op } from '../txn.js';
import { type Cidr, contains, formatCidr, nthBlock, parseCidr, startOffset } from './cidr.js';
import { blockName, DEFAULT_ROOT, IpamKeys } from './keys.js';

export interface SubnetConfig {
  /** The cluster network, e.g. 10.244.0.0/16. */
  readonly network: string;
  /** Prefix length of each node's subnet, e.g. 24. */
  readonly subnetLen: number;
}

export interface SubnetRecord {
  readonly subnet: string;
  readonly node: string;
  /** What peers need to reach the subnet (the node's address, for host-gw routes). */
  readonly publicIp: string;
}

export class SubnetError extends Error {
  constructor(
    readonly code: 'NO_CONFIG' | 'BAD_CONFIG' | 'EXHAUSTED' | 'CONFLICT',
    message: string,
  ) {
    super(message);
    this.name = 'SubnetError';
  }
}

export interface SubnetLease {
  readonly record: SubnetRecord;
  readonly lease: Lease;
  /** Aborted when the lease may have run out: the node must stop using the subnet. */
  readonly signal: AbortSignal;
  /** Gives the subnet back at once (revokes the lease). */
  release(): Promise<void>;
}

const DEFAULT_TTL_SECONDS = 30;
const MAX_ATTEMPTS = 16;

export function parseSubnetConfig(c: SubnetConfig): { network: Cidr; subnetLen: number } {
  let network: Cidr;
  try {
    network = parseCidr(c.network);
  } catch (err) {
    throw new SubnetError('BAD_CONFIG', `network: ${(err as Error).message}`);
  }
  const bits = network.family === 4 ? 32 : 128;
  if (!Number.isInteger(c.subnetLen) || c.subnetLen <= network.prefix || c.subnetLen > bits)
    throw new SubnetError(
      'BAD_CONFIG',
      `subnetLen: /${c.subnetLen} must be longer than /${network.prefix} and at most /${bits}`,
    );
  if (c.subnetLen - network.prefix > 20)
    throw new SubnetError(
      'BAD_CONFIG',
      `subnetLen: /${c.subnetLen} cuts ${formatCidr(network)} into more than 2^20 subnets`,
    );
  return { network, subnetLen: c.subnetLen };
}

export class SubnetManager {
  readonly keys: IpamKeys;

  constructor(
    private readonly client: Netcd,
    root: string = DEFAULT_ROOT,
  ) {
    this.keys = new IpamKeys(root);
  }

  async setConfig(c: SubnetConfig): Promise<void> {
    parseSubnetConfig(c);
    const held = await this.list();
    if (held.length > 0) {
      const { network, subnetLen } = parseSubnetConfig(c);
      const outside = held.find((r) => {
        const s = parseCidr(r.subnet);
        return s.prefix !== subnetLen || !contains(network, s.family, s.base);
      });
      if (outside !== undefined)
        throw new SubnetError(
          'CONFLICT',
          `subnet ${outside.subnet} of ${outside.node} would fall outside the new config`,
        );
    }
    await this.client.put(this.keys.subnetConfig(), JSON.stringify(c));
  }

  async getConfig(): Promise<SubnetConfig> {
    const kv = (await this.client.get(this.keys.subnetConfig())).kvs[0];
    if (kv === undefined)
      throw new SubnetError('NO_CONFIG', `no subnet config at ${this.keys.subnetConfig()}`);
    return JSON.parse(kv.value.toString()) as SubnetConfig;
  }

  async list(): Promise<SubnetRecord[]> {
    const res = await this.client.get(this.keys.subnetLeases(), { prefix: true });
    return res.kvs.map((kv) => JSON.parse(kv.value.toString()) as SubnetRecord);
  }

  /** A cache of every node's subnet, kept current by watch (call `run()`). */
  informer(): Informer<SubnetRecord> {
    return this.client.informer<SubnetRecord>({
      prefix: this.keys.subnetLeases(),
      decode: (kv) => JSON.parse(kv.value.toString()) as SubnetRecord,
    });
  }

  /**
   * Takes a subnet for `node`: the one it already holds (after a restart, if its old lease has not
   * run out), else a free one. The key lives on a fresh lease that the returned object keeps alive.
   */
  async acquire(
    node: string,
    publicIp: string,
    o: { readonly ttlSeconds?: number } = {},
  ): Promise<SubnetLease> {
    const { network, subnetLen } = parseSubnetConfig(await this.getConfig());
    const lease = await this.client.grantLease(o.ttlSeconds ?? DEFAULT_TTL_SECONDS);
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const existing = await this.client.get(this.keys.subnetLeases(), { prefix: true });
        const mine = existing.kvs.find(
          (kv) => (JSON.parse(kv.value.toString()) as SubnetRecord).node === node,
        );
        let key: string;
        let expectMod: number;
        let subnet: string;
        if (mine !== undefined) {
          key = mine.key.toString();
          expectMod = mine.modRevision;
          subnet = (JSON.parse(mine.value.toString()) as SubnetRecord).subnet;
        } else {
          const taken = new Set(existing.kvs.map((kv) => kv.key.toString()));
          const free = this.firstFree(network, subnetLen, node, taken);
          if (free === undefined)
            throw new SubnetError('EXHAUSTED', `no free /${subnetLen} left in ${formatCidr(network)}`);
          subnet = formatCidr(free);
          key = this.keys.subnetLease(blockName(subnet));
          expectMod = 0;
        }
        const record: SubnetRecord = { subnet, node, publicIp };
        const res = await this.client
          .txn()
          .if(compare.modRevision(key).equal(expectMod))
          .onSuccess(op.put(key, JSON.stringify(record), { lease: lease.id }))
          .commit();
        if (res.succeeded)
          return {
            record,
            lease,
            signal: lease.signal,
            release: async () => {
              await lease.revoke();
            },
          };
      }
      throw new SubnetError('CONFLICT', `gave up after ${MAX_ATTEMPTS} conflicting attempts`);
    } catch (err) {
      await lease.revoke().catch(() => lease.close());
      throw err;
    }
  }

  private firstFree(
    network: Cidr,
    subnetLen: number,
    node: string,
    taken: ReadonlySet<string>,
  ): Cidr | undefined {
    const count = 1n << BigInt(subnetLen - network.prefix);
    const start = startOffset(node, count);
    for (let i = 0n; i < count; i++) {
      const s = nthBlock(network, subnetLen, (start + i) % count);
      if (!taken.has(this.keys.subnetLease(blockName(formatCidr(s))))) return s;
    }
    return undefined;
  }
}
