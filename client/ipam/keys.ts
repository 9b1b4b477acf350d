// Where IPAM keeps its state in netcd. Every name is URI-encoded so a '/' in a network or
// container id cannot change which key a record lands on.
//
//   <root>pools/<pool>                          pool definition (JSON)
//   <root>blocks/<pool>/<block>                 a block and the node that claimed it (JSON)
//   <root>addrs/<pool>/<block>/<ordinal>        an address in use or cooling down (JSON)
//   <root>affinity/<node>/<pool>/<block>        the blocks a node has claimed (value: block key)
//   <root>handles/<network>/<container>/<if>    one attachment's addresses (JSON)
//   <root>subnets/config, <root>subnets/leases/<subnet>   per-node subnet leases

export const DEFAULT_ROOT = '/netcd/ipam/';

const enc = encodeURIComponent;

export interface HandleRef {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

export class IpamKeys {
  constructor(readonly root: string = DEFAULT_ROOT) {
    if (!root.endsWith('/')) throw new Error(`IPAM root must end with '/': ${root}`);
  }

  pools(): string {
    return `${this.root}pools/`;
  }
  pool(name: string): string {
    return `${this.pools()}${enc(name)}`;
  }
  blocks(pool?: string): string {
    return pool === undefined ? `${this.root}blocks/` : `${this.root}blocks/${enc(pool)}/`;
  }
  block(pool: string, blockName: string): string {
    return `${this.blocks(pool)}${blockName}`;
  }
  addresses(pool?: string, blockName?: string): string {
    if (pool === undefined) return `${this.root}addrs/`;
    return blockName === undefined
      ? `${this.root}addrs/${enc(pool)}/`
      : `${this.root}addrs/${enc(pool)}/${blockName}/`;
  }
  address(pool: string, blockName: string, ordinal: number): string {
    return `${this.addresses(pool, blockName)}${ordinal}`;
  }
  affinities(node: string, pool?: string): string {
    const base = `${this.root}affinity/${enc(node)}/`;
    return pool === undefined ? base : `${base}${enc(pool)}/`;
  }
  affinity(node: string, pool: string, blockName: string): string {
    return `${this.affinities(node, pool)}${blockName}`;
  }
  handles(network?: string): string {
    return network === undefined ? `${this.root}handles/` : `${this.root}handles/${enc(network)}/`;
  }
  handle(h: HandleRef): string {
    return `${this.handles(h.network)}${enc(h.containerId)}/${enc(h.ifname)}`;
  }
  subnetConfig(): string {
    return `${this.root}subnets/config`;
  }
  subnetLeases(): string {
    return `${this.root}subnets/leases/`;
  }
  subnetLease(subnetName: string): string {
    return `${this.subnetLeases()}${subnetName}`;
  }
}

/** A block's name inside keys: its CIDR with the '/' turned into '-' (10.22.0.0-26, fd00::-122). */
export function blockName(cidrText: string): string {
  return cidrText.replace('/', '-');
}
