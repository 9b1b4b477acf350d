// Proves each CNI command end to end through runPlugin with an in-memory allocator: ADD's exact
// result per version, idempotent DEL, CHECK against prevResult, GC's handles, STATUS, VERSION, the
// error JSON and exit code of each failure class, and the deadline that holds even when the allocator
// ignores its AbortSignal.

import t from 'tap';
import { formatIp, parseCidr, parseIp } from '../ipam/cidr.js';
import {
  type AllocatedAddress,
  type AllocateRequest,
  type AttachmentHandle,
  type CniAllocator,
  type CniAllocatorFactory,
  PoolExhaustedError,
  StoreUnreachableError,
} from './allocator.js';
import type { HostAccess, IpamPluginConfig } from './config.js';
import type { EnvSource } from './env.js';
import { type PluginLog, runPlugin } from './plugin.js';

const keyOf = (h: AttachmentHandle) => `${h.network}/${h.containerId}/${h.ifname}`;

/** Test double: hands out the lowest free address of each range set; pools map to fixed subnets. */
class MemoryAllocator implements CniAllocator {
  readonly held = new Map<string, AllocatedAddress[]>();
  readonly requests: AllocateRequest[] = [];
  readonly gcCalls: Array<{ network: string; valid: readonly AttachmentHandle[] }> = [];
  closed = 0;
  statusError: Error | null = null;
  /** Returned by the next allocate instead of real addresses (to break the contract). */
  override: AllocatedAddress[] | null = null;
  /** When set, every call waits forever, ignoring its signal. */
  hang = false;
  private readonly pools: Record<string, string> = { blue: '192.168.7.0/24' };

  private async gate(): Promise<void> {
    if (this.hang) await new Promise(() => {});
  }

  private used(): Set<string> {
    return new Set([...this.held.values()].flat().map((a) => a.address.split('/')[0] ?? ''));
  }

  async allocate(request: AllocateRequest): Promise<AllocatedAddress[]> {
    await this.gate();
    this.requests.push(request);
    if (this.override !== null) return this.override;
    const existing = this.held.get(keyOf(request.handle));
    if (existing !== undefined) return existing;
    const used = this.used();
    const out: AllocatedAddress[] = [];
    for (const [i, set] of request.ranges.entries()) {
      const range = set[0];
      if (range === undefined) throw new Error('empty range set');
      // The plugin hands over canonical ranges only, so these parse (or the test fails loudly).
      const start = parseIp(range.rangeStart);
      const end = parseIp(range.rangeEnd);
      const subnet = parseCidr(range.subnet);
      const wanted = request.requestedIps.find((ip) => parseIp(ip).family === start.family);
      let pick: string | undefined = wanted;
      for (let v = start.value; pick === undefined && v <= end.value; v++) {
        const text = formatIp(start.family, v);
        if (text !== range.gateway && !used.has(text)) pick = text;
      }
      if (pick === undefined) throw new PoolExhaustedError(`no free address in range set ${i}`, range.subnet);
      out.push({ address: `${pick}/${subnet.prefix}`, gateway: range.gateway, version: start.family });
    }
    for (const pool of request.pools) {
      const subnet = this.pools[pool] ?? '';
      out.push({ address: subnet.replace('.0/', `.${10 + this.held.size}/`), version: 4 });
    }
    this.held.set(keyOf(request.handle), out);
    return out;
  }

  async release(handle: AttachmentHandle): Promise<void> {
    await this.gate();
    this.held.delete(keyOf(handle));
  }

  async check(handle: AttachmentHandle): Promise<AllocatedAddress[] | null> {
    await this.gate();
    return this.held.get(keyOf(handle)) ?? null;
  }

  async gc(network: string, valid: readonly AttachmentHandle[]): Promise<number> {
    await this.gate();
    this.gcCalls.push({ network, valid });
    const keep = new Set(valid.map(keyOf));
    let released = 0;
    for (const [key, addresses] of this.held)
      if (key.startsWith(`${network}/`) && !keep.has(key)) {
        this.held.delete(key);
        released += addresses.length;
      }
    return released;
  }

  async status(): Promise<void> {
    await this.gate();
    if (this.statusError !== null) throw this.statusError;
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

interface Run {
  code: number;
  stdout: string;
  json: unknown;
  logs: LogLine[];
}

const host: HostAccess = { hostname: () => 'node-a', isReadableFile: () => true };

const baseConfig = {
  cniVersion: '1.1.0',
  name: 'podnet',
  type: 'bridge',
  ipam: {
    type: 'netcd-ipam',
    ranges: [
      [{ subnet: '10.22.0.0/16', rangeStart: '10.22.0.10', rangeEnd: '10.22.0.250', gateway: '10.22.0.1' }],
    ],
    routes: [{ dst: '0.0.0.0/0' }],
  },
};

const attachmentEnv = (command: string, containerId = 'c1'): EnvSource => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: containerId,
  CNI_NETNS: `/run/netns/${containerId}`,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
});

async function invoke(
  env: EnvSource,
  stdin: unknown,
  factory: CniAllocatorFactory,
  readStdin?: () => Promise<string>,
): Promise<Run> {
  let stdout = '';
  const logs: LogLine[] = [];
  const line = (level: LogLine['level']) => (fields: object, message: string) =>
    logs.push({ level, fields, message });
  const log: PluginLog = { info: line('info'), warn: line('warn'), error: line('error') };
  const code = await runPlugin({
    env,
    readStdin: readStdin ?? (async () => (typeof stdin === 'string' ? stdin : JSON.stringify(stdin))),
    stdout: { write: (text: string) => (stdout += text) },
    allocatorFactory: factory,
    log,
    host,
  });
  return { code, stdout, json: stdout === '' ? null : JSON.parse(stdout), logs };
}

/** A factory that always returns `allocator` and records the configs it was given. */
function factoryOf(allocator: CniAllocator, configs: IpamPluginConfig[] = []): CniAllocatorFactory {
  return async (config) => {
    configs.push(config);
    return allocator;
  };
}

t.test('ADD allocates with the exact request and prints the result in the config version', async (t) => {
  const allocator = new MemoryAllocator();
  const configs: IpamPluginConfig[] = [];
  const run = await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator, configs));
  t.equal(run.code, 0);
  t.equal(
    run.stdout,
    '{"cniVersion":"1.1.0","ips":[{"address":"10.22.0.10/16","gateway":"10.22.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}\n',
  );
  t.same(allocator.requests, [
    {
      handle: { network: 'podnet', containerId: 'c1', ifname: 'eth0' },
      node: 'node-a',
      ranges: [
        [{ subnet: '10.22.0.0/16', rangeStart: '10.22.0.10', rangeEnd: '10.22.0.250', gateway: '10.22.0.1' }],
      ],
      pools: [],
      requestedIps: [],
    },
  ]);
  t.equal(configs[0]?.network, 'podnet');
  t.equal(allocator.closed, 1, 'closed after the command');

  const old = await invoke(
    attachmentEnv('ADD', 'c2'),
    { ...baseConfig, cniVersion: '0.3.1' },
    factoryOf(allocator),
  );
  t.equal(
    old.stdout,
    '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.22.0.11/16","gateway":"10.22.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}\n',
  );
});

t.test('a second ADD for the same attachment returns the same addresses', async (t) => {
  const allocator = new MemoryAllocator();
  const first = await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  const second = await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  t.equal(second.stdout, first.stdout);
  t.equal(allocator.held.size, 1);
});

t.test('ADD with ranges, a pool and a requested IP', async (t) => {
  const allocator = new MemoryAllocator();
  const config = {
    ...baseConfig,
    ipam: {
      ...baseConfig.ipam,
      ranges: [...baseConfig.ipam.ranges, [{ subnet: 'fd00::/120' }]],
      pools: ['blue'],
    },
    runtimeConfig: { ips: ['10.22.0.77/16'] },
  };
  const run = await invoke(attachmentEnv('ADD'), config, factoryOf(allocator));
  t.equal(run.code, 0);
  t.same(run.json, {
    cniVersion: '1.1.0',
    ips: [
      { address: '10.22.0.77/16', gateway: '10.22.0.1' },
      { address: 'fd00::2/120', gateway: 'fd00::1' },
      { address: '192.168.7.10/24' },
    ],
    routes: [{ dst: '0.0.0.0/0' }],
  });
  t.same(allocator.requests[0]?.requestedIps, ['10.22.0.77']);
});

t.test('DEL releases, and succeeds again when nothing is left', async (t) => {
  const allocator = new MemoryAllocator();
  await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  t.equal(allocator.held.size, 1);
  const del = await invoke(attachmentEnv('DEL'), baseConfig, factoryOf(allocator));
  t.same([del.code, del.stdout], [0, '']);
  t.equal(allocator.held.size, 0);
  const again = await invoke(attachmentEnv('DEL'), baseConfig, factoryOf(allocator));
  t.same([again.code, again.stdout], [0, '']);
  const never = await invoke(attachmentEnv('DEL', 'never-added'), baseConfig, factoryOf(allocator));
  t.same([never.code, never.stdout], [0, '']);
});

t.test('DEL without netns and with broken address settings still releases', async (t) => {
  const allocator = new MemoryAllocator();
  await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  const env = { ...attachmentEnv('DEL'), CNI_NETNS: undefined };
  const broken = { ...baseConfig, ipam: { type: 'netcd-ipam', ranges: 'garbage' } };
  const del = await invoke(env, broken, factoryOf(allocator));
  t.same([del.code, del.stdout], [0, '']);
  t.equal(allocator.held.size, 0);
  t.same(del.logs, [
    {
      level: 'warn',
      fields: { command: 'DEL' },
      message:
        'DEL goes on without the address settings: ipam.ranges: must be an array of range sets (arrays of ranges)',
    },
  ]);
});

t.test('CHECK passes when netcd holds what prevResult lists', async (t) => {
  const allocator = new MemoryAllocator();
  const add = await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  // The runtime hands back the final result of the chain, with the bridge's interfaces added.
  const prevResult = {
    ...(add.json as object),
    interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }],
    ips: [{ address: '10.22.0.10/16', gateway: '10.22.0.1', interface: 0 }, { address: '172.16.0.5/24' }],
  };
  const check = await invoke(attachmentEnv('CHECK'), { ...baseConfig, prevResult }, factoryOf(allocator));
  t.same([check.code, check.stdout], [0, ''], 'an address from another plugin is not ours to judge');
});

t.test('CHECK fails with 103 when the allocation is gone or differs', async (t) => {
  const allocator = new MemoryAllocator();
  await invoke(attachmentEnv('ADD'), baseConfig, factoryOf(allocator));
  const listing = (address: string) => ({
    ...baseConfig,
    prevResult: { cniVersion: '1.1.0', ips: [{ address }] },
  });

  const other = await invoke(attachmentEnv('CHECK'), listing('10.22.0.99/16'), factoryOf(allocator));
  t.same(
    [other.code, other.json],
    [
      1,
      {
        cniVersion: '1.1.0',
        code: 103,
        msg: 'netcd holds 10.22.0.10/16 for container c1 interface eth0 in network podnet but prevResult does not list it',
      },
    ],
  );

  const both = {
    ...baseConfig,
    prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.22.0.10/16' }, { address: '10.22.0.99/16' }] },
  };
  const extra = await invoke(attachmentEnv('CHECK'), both, factoryOf(allocator));
  t.same(
    (extra.json as { msg: string }).msg,
    'prevResult lists 10.22.0.99/16 but netcd holds 10.22.0.10/16 in that subnet for container c1 interface eth0 in network podnet',
  );

  await invoke(attachmentEnv('DEL'), baseConfig, factoryOf(allocator));
  const gone = await invoke(attachmentEnv('CHECK'), listing('10.22.0.10/16'), factoryOf(allocator));
  t.same(
    [gone.code, gone.json],
    [
      1,
      {
        cniVersion: '1.1.0',
        code: 103,
        msg: 'netcd holds no address for container c1 interface eth0 in network podnet',
      },
    ],
  );
});

t.test('CHECK without prevResult is an invalid config, before netcd is asked', async (t) => {
  let built = 0;
  const run = await invoke(attachmentEnv('CHECK'), baseConfig, async () => {
    built++;
    return new MemoryAllocator();
  });
  t.same(
    [run.code, run.json, built],
    [1, { cniVersion: '1.1.0', code: 7, msg: 'CHECK needs prevResult (the result of the ADD)' }, 0],
  );
});

t.test('GC passes the valid attachments as handles of this network', async (t) => {
  const allocator = new MemoryAllocator();
  for (const id of ['c1', 'c2', 'c3'])
    await invoke(attachmentEnv('ADD', id), baseConfig, factoryOf(allocator));
  const gcConfig = {
    ...baseConfig,
    'cni.dev/valid-attachments': [
      { containerID: 'c1', ifname: 'eth0' },
      { containerID: 'c3', ifname: 'eth0' },
    ],
  };
  const run = await invoke({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, gcConfig, factoryOf(allocator));
  t.same([run.code, run.stdout], [0, '']);
  t.same(allocator.gcCalls, [
    {
      network: 'podnet',
      valid: [
        { network: 'podnet', containerId: 'c1', ifname: 'eth0' },
        { network: 'podnet', containerId: 'c3', ifname: 'eth0' },
      ],
    },
  ]);
  t.same([...allocator.held.keys()], ['podnet/c1/eth0', 'podnet/c3/eth0']);
  t.same(run.logs, [
    {
      level: 'info',
      fields: { network: 'podnet', valid: 2, released: 1 },
      message: 'gc released stale addresses',
    },
  ]);
});

t.test('STATUS: success is silent; any failure is code 50 with the reason', async (t) => {
  const allocator = new MemoryAllocator();
  const ok = await invoke({ CNI_COMMAND: 'STATUS' }, baseConfig, factoryOf(allocator));
  t.same([ok.code, ok.stdout], [0, '']);
  allocator.statusError = new PoolExhaustedError('no free address in range set 0', '10.22.0.0/16');
  const full = await invoke({ CNI_COMMAND: 'STATUS' }, baseConfig, factoryOf(allocator));
  t.same(
    [full.code, full.json],
    [1, { cniVersion: '1.1.0', code: 50, msg: 'no free address in range set 0', details: '10.22.0.0/16' }],
  );
  const down = await invoke({ CNI_COMMAND: 'STATUS' }, baseConfig, async () => {
    throw new StoreUnreachableError('no netcd member answered', 'http://127.0.0.1:2379: connection refused');
  });
  t.same(down.json, {
    cniVersion: '1.1.0',
    code: 50,
    msg: 'no netcd member answered',
    details: 'http://127.0.0.1:2379: connection refused',
  });
  const misconfigured = await invoke(
    { CNI_COMMAND: 'STATUS' },
    { ...baseConfig, ipam: { type: 'netcd-ipam' } },
    factoryOf(allocator),
  );
  t.same((misconfigured.json as { code: number }).code, 7, 'a broken config keeps its own code');
});

t.test('VERSION answers in the caller’s version without needing a config or netcd', async (t) => {
  const noFactory: CniAllocatorFactory = async () => {
    throw new Error('VERSION must not build an allocator');
  };
  const asked = await invoke({ CNI_COMMAND: 'VERSION' }, { cniVersion: '1.0.0' }, noFactory);
  t.same(
    [asked.code, asked.stdout],
    [0, '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n'],
  );
  const empty = await invoke({ CNI_COMMAND: 'VERSION' }, '', noFactory);
  t.same(empty.json, {
    cniVersion: '1.1.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  const unreadable = await invoke({ CNI_COMMAND: 'VERSION' }, '', noFactory, async () => {
    throw new Error('EIO');
  });
  t.equal(unreadable.code, 0);
});

t.test('bad environment is code 4, bad JSON 6, unreadable stdin 5', async (t) => {
  const allocator = new MemoryAllocator();
  const noEnv = await invoke({}, baseConfig, factoryOf(allocator));
  t.same(
    [noEnv.code, noEnv.stdout],
    [1, '{"cniVersion":"1.1.0","code":4,"msg":"required env variables [CNI_COMMAND] missing"}\n'],
  );
  const noIfname = await invoke(
    { ...attachmentEnv('ADD'), CNI_IFNAME: '' },
    baseConfig,
    factoryOf(allocator),
  );
  t.same(noIfname.json, { cniVersion: '1.1.0', code: 4, msg: 'required env variables [CNI_IFNAME] missing' });
  const badJson = await invoke(attachmentEnv('ADD'), '{"cniVersion": "1.1.0",', factoryOf(allocator));
  t.same([badJson.code, (badJson.json as { code: number; msg: string }).code], [1, 6]);
  t.equal((badJson.json as { msg: string }).msg, 'decoding network config from stdin');
  const unreadable = await invoke(attachmentEnv('ADD'), '', factoryOf(allocator), async () => {
    throw new Error('read EIO');
  });
  t.same(unreadable.json, {
    cniVersion: '1.1.0',
    code: 5,
    msg: 'reading network config from stdin',
    details: 'read EIO',
  });
  t.equal(allocator.requests.length, 0);
});

t.test('errors are reported in the config’s version', async (t) => {
  const run = await invoke(
    attachmentEnv('ADD'),
    { ...baseConfig, cniVersion: '0.4.0', ipam: {} },
    factoryOf(new MemoryAllocator()),
  );
  t.same(run.json, { cniVersion: '0.4.0', code: 7, msg: 'ipam: no ranges or pools to allocate from' });
});

t.test('allocator failures map to 100, 101 and 999; the allocator is closed each time', async (t) => {
  const tiny = {
    ...baseConfig,
    ipam: { ...baseConfig.ipam, ranges: [[{ subnet: '10.9.0.0/30', gateway: '10.9.0.1' }]] },
  };
  const allocator = new MemoryAllocator();
  t.equal((await invoke(attachmentEnv('ADD', 'c1'), tiny, factoryOf(allocator))).code, 0);
  const full = await invoke(attachmentEnv('ADD', 'c2'), tiny, factoryOf(allocator));
  t.same(full.json, {
    cniVersion: '1.1.0',
    code: 100,
    msg: 'no free address in range set 0',
    details: '10.9.0.0/30',
  });
  t.equal(allocator.closed, 2);

  const unbuilt = await invoke(attachmentEnv('ADD'), baseConfig, async () => {
    throw new StoreUnreachableError('IPAM backend not built');
  });
  t.same(unbuilt.json, { cniVersion: '1.1.0', code: 101, msg: 'IPAM backend not built' });

  const buggy = new MemoryAllocator();
  buggy.release = async () => {
    throw new TypeError('cannot read properties of undefined');
  };
  const del = await invoke(attachmentEnv('DEL'), baseConfig, factoryOf(buggy));
  t.same(del.json, { cniVersion: '1.1.0', code: 999, msg: 'cannot read properties of undefined' });
  t.equal(buggy.closed, 1);
});

t.test('an allocator that breaks its contract is caught (999)', async (t) => {
  const allocator = new MemoryAllocator();
  const message = async (override: AllocatedAddress[], config: object = baseConfig) => {
    allocator.override = override;
    const run = await invoke(attachmentEnv('ADD'), config, factoryOf(allocator));
    return [(run.json as { code: number }).code, (run.json as { msg: string }).msg];
  };
  t.same(await message([]), [
    999,
    'IPAM allocator broke its contract: 0 addresses for 1 range sets and pools',
  ]);
  t.same(await message([{ address: '10.23.0.5/16', version: 4 }]), [
    999,
    'IPAM allocator broke its contract: 10.23.0.5/16 is not in range set 0',
  ]);
  t.same(await message([{ address: '10.22.0.5', version: 4 }]), [
    999,
    'IPAM allocator broke its contract: address 0 "10.22.0.5" is not an IPv4 CIDR',
  ]);
  t.same(await message([{ address: '10.22.0.5/16', gateway: 'gw', version: 4 }]), [
    999,
    'IPAM allocator broke its contract: gateway "gw" is not an address',
  ]);
  t.same(
    await message([{ address: '10.22.0.5/16', version: 4 }], {
      ...baseConfig,
      runtimeConfig: { ips: ['10.22.0.20'] },
    }),
    [999, 'IPAM allocator broke its contract: requested IP 10.22.0.20 was not allocated'],
  );
});

t.test('the deadline ends a command even when the allocator ignores its signal (code 11)', async (t) => {
  const allocator = new MemoryAllocator();
  allocator.hang = true;
  const quick = { ...baseConfig, ipam: { ...baseConfig.ipam, commandTimeoutMs: 50 } };
  const started = Date.now();
  const add = await invoke(attachmentEnv('ADD'), quick, factoryOf(allocator));
  t.same(add.json, {
    cniVersion: '1.1.0',
    code: 11,
    msg: 'ADD did not finish within 50 ms',
    details:
      'netcd did not answer in time; the runtime should retry (ipam.commandTimeoutMs sets the deadline)',
  });
  t.ok(Date.now() - started < 5_000, 'returned at the deadline, not after the hung call');
  t.equal(allocator.closed, 1, 'closed even though the call never returned');

  let release: (a: CniAllocator) => void = () => {};
  const lateAllocator = new MemoryAllocator();
  const slowFactory: CniAllocatorFactory = () =>
    new Promise((resolve) => {
      release = resolve;
    });
  const status = await invoke({ CNI_COMMAND: 'STATUS' }, quick, slowFactory);
  t.same(
    (status.json as { code: number; msg: string }).code,
    50,
    'STATUS reports the timeout as not available',
  );
  release(lateAllocator);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(lateAllocator.closed, 1, 'an allocator built after the deadline is closed, not leaked');
});

t.test('a failing close does not change the outcome', async (t) => {
  const allocator = new MemoryAllocator();
  allocator.close = async () => {
    throw new Error('socket already closed');
  };
  const run = await invoke(attachmentEnv('DEL'), baseConfig, factoryOf(allocator));
  t.same([run.code, run.stdout], [0, '']);
  t.same(run.logs, [
    { level: 'warn', fields: { err: 'socket already closed' }, message: 'closing the IPAM allocator failed' },
  ]);
});
