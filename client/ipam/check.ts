// Consistency check and usage report of the IPAM state, read at one revision (so an allocation in
// flight, which writes its block and its handle in one txn, is seen whole or not at all).
//   leak       an address key names an owner that does not record the address (or does not exist)
//   orphan     a handle records an address whose key does not name it
//   duplicate  two handles record the same address
//   dangling   an affinity points at a block that is missing or claimed by another node
// `repair` fixes each finding with a compare-and-swap against the revision it was found at, so
// a change made since is never undone.

import type { Netcd } from '../netcd.js';
import { type Compare, compare, type Op, op } from '../txn.js';
import { type AddressDoc, type BlockDoc, ownerOf, usableCount } from './block.js';
import { formatCidr, formatIp, parseCidr } from './cidr.js';
import type { HandleDoc, Ipam } from './ipam.js';
import { type Pool, usable } from './pool.js';

export type Finding =
  | {
      readonly kind: 'leak';
      readonly address: string;
      readonly addressKey: string;
      readonly handleKey: string;
    }
  | { readonly kind: 'orphan'; readonly address: string; readonly handleKey: string }
  | { readonly kind: 'duplicate'; readonly address: string; readonly handleKeys: readonly string[] }
  | { readonly kind: 'dangling'; readonly affinityKey: string };

export interface BlockUsage {
  readonly pool: string;
  readonly cidr: string;
  readonly affinity: string | null;
  readonly allocated: number;
  readonly usable: number;
}

export interface PoolUsage {
  readonly pool: string;
  readonly cidr: string;
  /** Addresses the pool may hand out in all. */
  readonly capacity: number;
  readonly allocated: number;
  readonly blocks: number;
}

export interface IpamReport {
  readonly revision: number;
  readonly pools: readonly PoolUsage[];
  readonly blocks: readonly BlockUsage[];
  /** Allocated addresses per node (by the handle's node). */
  readonly nodes: Readonly<Record<string, number>>;
  readonly handles: number;
  readonly findings: readonly Finding[];
}

interface Snapshot {
  readonly revision: number;
  readonly pools: Pool[];
  readonly blocks: Map<string, { doc: BlockDoc; modRevision: number }>;
  readonly addresses: Map<string, { doc: AddressDoc; modRevision: number }>;
  readonly handles: Map<string, { doc: HandleDoc; modRevision: number }>;
  readonly affinities: Map<string, { value: string; modRevision: number }>;
}

async function read(client: Netcd, ipam: Ipam): Promise<Snapshot> {
  const k = ipam.keys;
  const first = await client.get(k.blocks(), { prefix: true });
  const revision = first.header.revision;
  const [addresses, handles, affinities] = await Promise.all([
    client.get(k.addresses(), { prefix: true, revision }),
    client.get(k.handles(), { prefix: true, revision }),
    client.get(`${k.root}affinity/`, { prefix: true, revision }),
  ]);
  const pools = await ipam.listPools();
  return {
    revision,
    pools,
    blocks: new Map(
      first.kvs.map((kv) => [
        kv.key.toString(),
        { doc: JSON.parse(kv.value.toString()), modRevision: kv.modRevision },
      ]),
    ),
    addresses: new Map(
      addresses.kvs.map((kv) => [
        kv.key.toString(),
        { doc: JSON.parse(kv.value.toString()), modRevision: kv.modRevision },
      ]),
    ),
    handles: new Map(
      handles.kvs.map((kv) => [
        kv.key.toString(),
        { doc: JSON.parse(kv.value.toString()), modRevision: kv.modRevision },
      ]),
    ),
    affinities: new Map(
      affinities.kvs.map((kv) => [
        kv.key.toString(),
        { value: kv.value.toString(), modRevision: kv.modRevision },
      ]),
    ),
  };
}

function capacity(pool: Pool): number {
  let n = pool.rangeEnd - pool.rangeStart + 1n;
  if (pool.gateway !== undefined && usableIgnoringGateway(pool, pool.gateway)) n -= 1n;
  for (const r of pool.excluded) {
    // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers only)
    const from = r.from > pool.rangeStart ? r.from : pool.rangeStart;
    // biome-ignore lint/complexity/useMathMinMax: bigints
    const to = r.to < pool.rangeEnd ? r.to : pool.rangeEnd;
    if (to >= from) n -= to - from + 1n;
  }
  return Number(n);
}

function usableIgnoringGateway(pool: Pool, value: bigint): boolean {
  return usable({ ...pool, gateway: undefined }, value);
}

export async function checkIpam(client: Netcd, ipam: Ipam): Promise<IpamReport> {
  const s = await read(client, ipam);
  const findings: Finding[] = [];
  const blocks: BlockUsage[] = [];
  const poolByName = new Map(s.pools.map((p) => [p.name, p]));
  const allocatedByPool = new Map<string, number>();
  const blocksByPool = new Map<string, number>();
  const owners = new Map<string, string[]>();

  // Addresses in use per block key, and leaks.
  const inUse = new Map<string, number>();
  for (const [addressKey, { doc }] of s.addresses) {
    const owner = ownerOf(doc);
    if (owner === undefined) continue;
    const [poolPart = '', name = '', ord = ''] = addressKey.slice(ipam.keys.addresses().length).split('/');
    const blockKey = ipam.keys.blocks(decodeURIComponent(poolPart)) + name;
    inUse.set(blockKey, (inUse.get(blockKey) ?? 0) + 1);
    const cidr = parseCidr(name.replace('-', '/'));
    const address = formatIp(cidr.family, cidr.base + BigInt(ord));
    const recorded = s.handles
      .get(owner)
      ?.doc.addresses.some((a) => ipam.keys.address(a.pool, a.block, a.ordinal) === addressKey);
    if (recorded !== true || !s.blocks.has(blockKey))
      findings.push({ kind: 'leak', address, addressKey, handleKey: owner });
  }

  for (const [blockKey, { doc }] of s.blocks) {
    const poolName = decodeURIComponent(blockKey.slice(ipam.keys.blocks().length).split('/')[0] ?? '');
    const pool = poolByName.get(poolName);
    const usableHere = pool === undefined ? 0 : usableCount(parseCidr(doc.cidr), pool);
    const allocated = inUse.get(blockKey) ?? 0;
    blocks.push({ pool: poolName, cidr: doc.cidr, affinity: doc.affinity, allocated, usable: usableHere });
    allocatedByPool.set(poolName, (allocatedByPool.get(poolName) ?? 0) + allocated);
    blocksByPool.set(poolName, (blocksByPool.get(poolName) ?? 0) + 1);
  }

  const nodes: Record<string, number> = {};
  for (const [handleKey, { doc }] of s.handles) {
    for (const a of doc.addresses) {
      owners.set(a.address, [...(owners.get(a.address) ?? []), handleKey]);
      const key = s.addresses.get(ipam.keys.address(a.pool, a.block, a.ordinal));
      if (ownerOf(key?.doc) !== handleKey) findings.push({ kind: 'orphan', address: a.address, handleKey });
      else nodes[doc.node] = (nodes[doc.node] ?? 0) + 1;
    }
  }
  for (const [address, handleKeys] of owners)
    if (handleKeys.length > 1) findings.push({ kind: 'duplicate', address, handleKeys });

  for (const [affinityKey, { value }] of s.affinities) {
    const node = decodeURIComponent(
      affinityKey.slice(`${ipam.keys.root}affinity/`.length).split('/')[0] ?? '',
    );
    const block = s.blocks.get(value);
    if (block === undefined || block.doc.affinity !== node) findings.push({ kind: 'dangling', affinityKey });
  }

  const pools = s.pools.map((p) => ({
    pool: p.name,
    cidr: formatCidr(p.cidr),
    capacity: capacity(p),
    allocated: allocatedByPool.get(p.name) ?? 0,
    blocks: blocksByPool.get(p.name) ?? 0,
  }));
  return { revision: s.revision, pools, blocks, nodes, handles: s.handles.size, findings };
}

/**
 * Fixes what `checkIpam` found. Each fix is a txn that only applies if the keys it touches are
 * unchanged since the check's revision; a fix that loses that race is skipped (reported as
 * not repaired) and the next check sees the current state.
 */
export async function repairIpam(
  client: Netcd,
  report: IpamReport,
): Promise<{ repaired: number; skipped: number }> {
  let repaired = 0;
  let skipped = 0;
  const apply = async (compares: Compare[], ops: Op[]): Promise<void> => {
    const res = await client.commitTxn({ compares, success: ops, failure: [] });
    if (res.succeeded) repaired += 1;
    else skipped += 1;
  };
  const current = async (key: string) => (await client.get(key)).kvs[0];
  for (const f of report.findings) {
    if (f.kind === 'leak') {
      const kv = await current(f.addressKey);
      if (kv === undefined || kv.modRevision > report.revision) {
        skipped += 1;
        continue;
      }
      const handle = await current(f.handleKey);
      await apply(
        [
          compare.modRevision(f.addressKey).equal(kv.modRevision),
          compare.modRevision(f.handleKey).equal(handle?.modRevision ?? 0),
        ],
        [op.delete(f.addressKey)],
      );
    } else if (f.kind === 'orphan') {
      const kv = await current(f.handleKey);
      if (kv === undefined || kv.modRevision > report.revision) {
        skipped += 1;
        continue;
      }
      const doc = JSON.parse(kv.value.toString()) as HandleDoc;
      const addresses = doc.addresses.filter((a) => a.address !== f.address);
      const write =
        addresses.length === 0
          ? op.delete(f.handleKey)
          : op.put(f.handleKey, JSON.stringify({ ...doc, addresses }));
      await apply([compare.modRevision(f.handleKey).equal(kv.modRevision)], [write]);
    } else if (f.kind === 'dangling') {
      const kv = await current(f.affinityKey);
      if (kv === undefined || kv.modRevision > report.revision) {
        skipped += 1;
        continue;
      }
      await apply([compare.modRevision(f.affinityKey).equal(kv.modRevision)], [op.delete(f.affinityKey)]);
    }
    // A duplicate needs no fix of its own: the block names one owner, and every other handle
    // recording the address is also reported (and repaired) as an orphan.
  }
  return { repaired, skipped };
}
