// Proves the stdin config parses to exact values with the documented defaults, that every mistake is
// refused with its CNI code and exact message, and that DEL, CHECK and GC get past broken address
// settings (they only need the connection and the attachment) while ADD and STATUS do not.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  decodeConfig,
  type HostAccess,
  type NetworkConfig,
  parseNetworkConfig,
  realHost,
  replyVersionOf,
} from './config.js';
import type { CniEnv } from './env.js';
import { CniError } from './errors.js';

const host: HostAccess = {
  hostname: () => 'node-a',
  isReadableFile: (path) => path.startsWith('/etc/netcd/'),
};

const envFor = (command: CniEnv['command'], args = ''): CniEnv => ({
  command,
  containerId: 'c1',
  netns: '/run/netns/a',
  ifname: 'eth0',
  args,
  path: '/opt/cni/bin',
});

const base = {
  cniVersion: '1.1.0',
  name: 'podnet',
  type: 'bridge',
  bridge: 'cni0',
  isGateway: true,
  ipam: {
    type: 'netcd-ipam',
    ranges: [
      [{ subnet: '10.22.0.0/16', rangeStart: '10.22.0.10', rangeEnd: '10.22.0.250', gateway: '10.22.0.1' }],
    ],
  },
};

type Raw = Record<string, unknown>;

function parse(raw: Raw, cni: CniEnv = envFor('ADD'), env: Record<string, string> = {}): NetworkConfig {
  return parseNetworkConfig(raw, cni, { env, host });
}

function failure(fn: () => unknown): { code: number; msg: string; details: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message, details: err.details };
    throw err;
  }
  throw new Error('expected a CniError');
}

const withIpam = (ipam: Raw, extra: Raw = {}): Raw => ({
  ...base,
  ...extra,
  ipam: { ...base.ipam, ...ipam },
});

t.test('the issue example parses with every default filled in', async (t) => {
  t.same(parse(base), {
    cniVersion: '1.1.0',
    name: 'podnet',
    ipam: {
      network: 'podnet',
      endpoints: ['http://127.0.0.1:2379'],
      nodeName: 'node-a',
      dialTimeoutMs: 2000,
      requestTimeoutMs: 5000,
      commandTimeoutMs: 30000,
      tls: {},
      ranges: [
        [{ subnet: '10.22.0.0/16', rangeStart: '10.22.0.10', rangeEnd: '10.22.0.250', gateway: '10.22.0.1' }],
      ],
      pools: [],
      routes: [],
      dns: {},
    },
    requestedIps: [],
    prevResult: undefined,
    validAttachments: [],
    warnings: [],
  });
});

t.test('every ipam key parses to its canonical value', async (t) => {
  const config = parse(
    withIpam({
      endpoints: ['https://10.0.0.1:2379', ' http://[::1]:2379 '],
      nodeName: 'worker-7',
      dialTimeoutMs: 500,
      requestTimeoutMs: 1500,
      commandTimeoutMs: 9000,
      certFile: '/etc/netcd/client.crt',
      keyFile: '/etc/netcd/client.key',
      trustedCaFile: '/etc/netcd/ca.crt',
      ranges: [[{ subnet: '10.22.0.0/16' }], [{ subnet: 'fd00:22::/64' }]],
      pools: ['blue', 'green.v6'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: 'FD00::/8', gw: 'fd00:22::1', mtu: 1400, table: 10, scope: 253 }],
      dns: {
        nameservers: ['10.22.0.2', 'FD00::53'],
        domain: 'cluster.local',
        search: ['svc.local'],
        options: ['ndots:5'],
      },
    }),
  );
  t.same(config.ipam, {
    network: 'podnet',
    endpoints: ['https://10.0.0.1:2379', 'http://[::1]:2379'],
    nodeName: 'worker-7',
    dialTimeoutMs: 500,
    requestTimeoutMs: 1500,
    commandTimeoutMs: 9000,
    tls: {
      certFile: '/etc/netcd/client.crt',
      keyFile: '/etc/netcd/client.key',
      trustedCaFile: '/etc/netcd/ca.crt',
    },
    ranges: [
      [{ subnet: '10.22.0.0/16', rangeStart: '10.22.0.1', rangeEnd: '10.22.255.254', gateway: '10.22.0.1' }],
      [
        {
          subnet: 'fd00:22::/64',
          rangeStart: 'fd00:22::1',
          rangeEnd: 'fd00:22::ffff:ffff:ffff:ffff',
          gateway: 'fd00:22::1',
        },
      ],
    ],
    pools: ['blue', 'green.v6'],
    routes: [{ dst: '0.0.0.0/0' }, { dst: 'fd00::/8', gw: 'fd00:22::1', mtu: 1400, table: 10, scope: 253 }],
    dns: {
      nameservers: ['10.22.0.2', 'fd00::53'],
      domain: 'cluster.local',
      search: ['svc.local'],
      options: ['ndots:5'],
    },
  });
});

t.test('host-local forms: the ipam.subnet shorthand and runtimeConfig.ipRanges come first', async (t) => {
  const config = parse({
    ...base,
    runtimeConfig: { ipRanges: [[{ subnet: '10.99.0.0/24' }]] },
    ipam: {
      type: 'netcd-ipam',
      subnet: '10.1.0.0/24',
      gateway: '10.1.0.254',
      ranges: [[{ subnet: 'fd00::/64' }]],
    },
  });
  t.same(
    config.ipam.ranges.map((set) =>
      set.map((r) => `${r.subnet} ${r.rangeStart}-${r.rangeEnd} gw ${r.gateway}`),
    ),
    [
      ['10.99.0.0/24 10.99.0.1-10.99.0.254 gw 10.99.0.1'],
      ['10.1.0.0/24 10.1.0.1-10.1.0.254 gw 10.1.0.254'],
      ['fd00::/64 fd00::1-fd00::ffff:ffff:ffff:ffff gw fd00::1'],
    ],
  );
  t.same(
    failure(() => parse(withIpam({ rangeStart: '10.22.0.5' }))),
    {
      code: 7,
      msg: 'ipam.rangeStart: needs ipam.subnet',
      details: '',
    },
  );
  t.same(
    failure(() => parse(withIpam({ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }))).msg,
    'ipam.gateway: 10.2.0.1 is not in 10.1.0.0/24',
  );
});

t.test('node name: ipam.nodeName, then NETCD_NODE_NAME, then the host name', async (t) => {
  t.equal(
    parse(withIpam({ nodeName: 'from-config' }), envFor('ADD'), { NETCD_NODE_NAME: 'from-env' }).ipam
      .nodeName,
    'from-config',
  );
  t.equal(parse(base, envFor('ADD'), { NETCD_NODE_NAME: 'from-env' }).ipam.nodeName, 'from-env');
  t.equal(parse(base, envFor('ADD'), { NETCD_NODE_NAME: '' }).ipam.nodeName, 'node-a');
  t.same(
    failure(() => parse(base, envFor('ADD'), { NETCD_NODE_NAME: 'bad/name' })),
    {
      code: 7,
      msg: 'invalid node name "bad/name"',
      details:
        'NETCD_NODE_NAME must start with a letter or digit, continue with letters, digits, _ . - and have at most 253 characters',
    },
  );
});

t.test('requested IPs: args.cni.ips and runtimeConfig.ips; CNI_ARGS IP only without args', async (t) => {
  const dual = withIpam({ ranges: [[{ subnet: '10.22.0.0/16' }], [{ subnet: 'fd00::/64' }]] });
  t.same(
    parse(
      { ...dual, args: { cni: { ips: ['10.22.0.5/16'] } }, runtimeConfig: { ips: ['FD00::5', '10.22.0.5'] } },
      envFor('ADD', 'IP=10.22.0.9'),
    ).requestedIps,
    ['10.22.0.5', 'fd00::5'],
  );
  t.same(parse(dual, envFor('ADD', 'IP=10.22.0.9')).requestedIps, ['10.22.0.9']);
  t.same(
    failure(() => parse(dual, envFor('ADD', 'IP=10.22.0.999'))),
    {
      code: 4,
      msg: 'CNI_ARGS IP: "10.22.0.999" is not an IP address',
      details: '',
    },
  );
  t.same(
    failure(() => parse({ ...dual, args: { cni: { ips: ['nope'] } } })).msg,
    'args.cni.ips[0]: "nope" is not an IP address',
  );
  t.same(
    failure(() => parse({ ...dual, runtimeConfig: { ips: '10.22.0.5' } })).msg,
    'runtimeConfig.ips: must be an array of addresses such as "10.22.0.5" or "10.22.0.5/16"',
  );
});

t.test('requested IPs must fit the range sets, one per set (code 102)', async (t) => {
  t.same(
    failure(() => parse({ ...base, runtimeConfig: { ips: ['10.22.0.5'] } })),
    {
      code: 102,
      msg: 'requested IP 10.22.0.5 is not in any range',
      details: '',
    },
  );
  t.same(
    failure(() => parse({ ...base, runtimeConfig: { ips: ['10.22.0.11', '10.22.0.12'] } })).msg,
    'requested IPs 10.22.0.11 and 10.22.0.12 are both in range set 0, which gives one address',
  );
  const pooled = withIpam({ pools: ['blue'] });
  t.same(
    parse({ ...pooled, runtimeConfig: { ips: ['192.168.7.7'] } }).requestedIps,
    ['192.168.7.7'],
    'may be for a pool',
  );
});

t.test('network-level mistakes: decode (6), name (7), version (1), ipam section (7)', async (t) => {
  t.same(failure(() => decodeConfig('{"name": ')).code, 6);
  t.same(failure(() => decodeConfig('{"name": ')).msg, 'decoding network config from stdin');
  t.same(
    failure(() => decodeConfig('[1]')),
    { code: 6, msg: 'network config must be a JSON object', details: '' },
  );
  t.same(
    failure(() => parse({ ...base, name: undefined })),
    { code: 7, msg: 'missing network name', details: 'name' },
  );
  t.same(failure(() => parse({ ...base, name: 'pod net' })).msg, 'invalid network name "pod net"');
  t.same(
    failure(() => parse({ ...base, cniVersion: '0.2.0' })),
    {
      code: 1,
      msg: 'incompatible CNI versions',
      details: 'config is "0.2.0", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]',
    },
  );
  t.same(
    failure(() => parse({ ...base, cniVersion: undefined })).details,
    'config is "0.1.0", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]',
  );
  t.same(
    failure(() => parse({ ...base, cniVersion: 1 })),
    { code: 6, msg: 'cniVersion must be a string', details: '' },
  );
  t.same(
    failure(() => parse({ ...base, cniVersion: '0.3.1' }, envFor('CHECK'))),
    {
      code: 1,
      msg: 'config version does not allow CHECK',
      details: 'CHECK needs cniVersion 0.4.0 or later, config is "0.3.1"',
    },
  );
  t.same(
    failure(() => parse({ ...base, cniVersion: '1.0.0' }, envFor('GC'))).msg,
    'config version does not allow GC',
  );
  t.same(
    failure(() => parse({ ...base, cniVersion: '1.0.0' }, envFor('STATUS'))).msg,
    'config version does not allow STATUS',
  );
  t.same(
    failure(() => parse({ ...base, ipam: undefined })),
    { code: 7, msg: 'missing "ipam" section', details: '' },
  );
  t.same(failure(() => parse({ ...base, ipam: [] })).msg, 'ipam: must be an object');
  t.equal(replyVersionOf({ cniVersion: '0.4.0' }), '0.4.0');
  t.equal(replyVersionOf({ cniVersion: '0.2.0' }), '1.1.0', 'errors for versions we do not speak use ours');
});

t.test('ipam mistakes name the field (code 7, or 2 for unknown keys)', async (t) => {
  const cases: Array<[Raw, number, string]> = [
    [
      { endpoints: 'http://127.0.0.1:2379' },
      7,
      'ipam.endpoints: must be an array of URLs such as "http://127.0.0.1:2379"',
    ],
    [{ endpoints: [] }, 7, 'ipam.endpoints: empty'],
    [{ endpoints: Array(17).fill('http://127.0.0.1:2379') }, 7, 'ipam.endpoints: more than 16 entries'],
    [
      { endpoints: ['unix:///run/netcd.sock'] },
      7,
      'ipam.endpoints[0]: invalid endpoint "unix:///run/netcd.sock": scheme must be http or https',
    ],
    [
      { endpoints: ['http://127.0.0.1:2379/v3'] },
      7,
      'ipam.endpoints[0]: invalid endpoint "http://127.0.0.1:2379/v3": only scheme, host and port are allowed',
    ],
    [{ dialTimeoutMs: 0 }, 7, 'ipam.dialTimeoutMs: must be an integer from 1 to 600000'],
    [{ requestTimeoutMs: 1.5 }, 7, 'ipam.requestTimeoutMs: must be an integer from 1 to 600000'],
    [{ commandTimeoutMs: '30s' }, 7, 'ipam.commandTimeoutMs: must be an integer from 1 to 600000'],
    [
      { certFile: 'client.crt', keyFile: '/etc/netcd/k' },
      7,
      'ipam.certFile: "client.crt" is not an absolute path',
    ],
    [
      { trustedCaFile: '/tmp/missing-ca.crt' },
      7,
      'ipam.trustedCaFile: /tmp/missing-ca.crt is not a readable file',
    ],
    [{ certFile: '/etc/netcd/client.crt' }, 7, 'ipam.certFile and ipam.keyFile must be given together'],
    [{ keyFile: 7 }, 7, 'ipam.keyFile: must be a string'],
    [{ ranges: undefined }, 7, 'ipam: no ranges or pools to allocate from'],
    [
      { ranges: [[{ subnet: '10.22.0.0/16' }], [{ subnet: '10.22.5.0/24' }]] },
      7,
      'ipam.ranges: range sets 0 and 1 overlap',
    ],
    [
      { ranges: [[{ subnet: '10.22.0.1/16' }]] },
      7,
      'ipam.ranges[0][0].subnet: 10.22.0.1/16 has host bits set (the network is 10.22.0.0/16)',
    ],
    [{ pools: ['blue', 'blue'] }, 7, 'ipam.pools: blue is listed twice'],
    [{ pools: ['-blue'] }, 7, 'invalid pool name "-blue"'],
    [{ pools: 'blue' }, 7, 'ipam.pools: must be an array of strings'],
    [{ routes: {} }, 7, 'ipam.routes: must be an array of routes'],
    [{ routes: [{ gw: '10.22.0.1' }] }, 7, 'ipam.routes[0].dst: must be a CIDR such as "0.0.0.0/0"'],
    [{ routes: [{ dst: '10.0.0.1/8' }] }, 7, 'ipam.routes[0].dst: 10.0.0.1/8 has host bits set'],
    [
      { routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] },
      7,
      'ipam.routes[0].gw: "fd00::1" is not an IPv4 address',
    ],
    [
      { routes: [{ dst: '0.0.0.0/0', mtu: -1 }] },
      7,
      'ipam.routes[0].mtu: must be an integer from 0 to 4294967295',
    ],
    [
      { routes: [{ dst: '0.0.0.0/0', scope: 256 }] },
      7,
      'ipam.routes[0].scope: must be an integer from 0 to 255',
    ],
    [
      { routes: [{ dst: '0.0.0.0/0', via: '10.0.0.1' }] },
      2,
      'unsupported field ipam.routes[0].via: "10.0.0.1"',
    ],
    [{ dns: [] }, 7, 'ipam.dns: must be an object'],
    [
      { dns: { nameservers: ['dns.google'] } },
      7,
      'ipam.dns.nameservers[0]: "dns.google" is not an IP address',
    ],
    [{ dns: { servers: ['10.0.0.2'] } }, 2, 'unsupported field ipam.dns.servers: ["10.0.0.2"]'],
    [{ dataDir: '/var/lib/cni' }, 2, 'unsupported field ipam.dataDir: "/var/lib/cni"'],
  ];
  for (const [ipam, code, msg] of cases) {
    const got = failure(() => parse(withIpam(ipam)));
    t.same({ code: got.code, msg: got.msg }, { code, msg }, msg);
  }
  t.same(
    failure(() => parse(withIpam({ nodeName: 'x'.repeat(254) }))).msg,
    `invalid node name "${'x'.repeat(254)}"`,
  );
});

t.test('DEL, CHECK and GC go on without broken address settings, with a warning', async (t) => {
  const broken = withIpam({ ranges: [[{ subnet: 'not-a-cidr' }]], dataDir: '/x' });
  const del = parse(broken, envFor('DEL', 'FOO=bar'));
  t.same(del.ipam.ranges, []);
  t.same(del.ipam.pools, []);
  t.same(del.warnings, ['DEL goes on without the address settings: unsupported field ipam.dataDir: "/x"']);
  t.same(parse(withIpam({ ranges: undefined }), envFor('CHECK')).warnings, [
    'CHECK goes on without the address settings: ipam: no ranges or pools to allocate from',
  ]);
  t.same(failure(() => parse(broken, envFor('ADD'))).code, 2, 'ADD refuses them');
  t.same(
    failure(() => parse(withIpam({ ranges: undefined }), envFor('STATUS'))).code,
    7,
    'STATUS refuses them',
  );
  t.same(
    failure(() => parse(withIpam({ endpoints: [] }), envFor('DEL'))).msg,
    'ipam.endpoints: empty',
    'DEL still needs a way to netcd',
  );
});

t.test('GC reads cni.dev/valid-attachments and refuses to run without it', async (t) => {
  const gc = envFor('GC');
  const config = parse(
    {
      ...base,
      'cni.dev/valid-attachments': [
        { containerID: 'c1', ifname: 'eth0' },
        { containerID: 'c2', ifname: 'net1' },
      ],
    },
    gc,
  );
  t.same(config.validAttachments, [
    { containerId: 'c1', ifname: 'eth0' },
    { containerId: 'c2', ifname: 'net1' },
  ]);
  t.same(parse({ ...base, 'cni.dev/valid-attachments': [] }, gc).validAttachments, []);
  t.same(
    failure(() => parse(base, gc)),
    {
      code: 7,
      msg: 'GC needs cni.dev/valid-attachments, an array of {containerID, ifname}',
      details: '',
    },
  );
  t.same(
    failure(() => parse({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }, gc)).msg,
    'cni.dev/valid-attachments[0]: must be an object with containerID and ifname strings',
  );
  t.same(
    parse({ ...base, 'cni.dev/valid-attachments': 'junk' }, envFor('ADD')).validAttachments,
    [],
    'only GC reads it',
  );
});

t.test('prevResult is passed through as given', async (t) => {
  const prevResult = { cniVersion: '1.1.0', ips: [{ address: '10.22.0.12/16' }] };
  t.equal(parse({ ...base, prevResult }, envFor('CHECK')).prevResult, prevResult);
});

t.test('the real host check accepts readable files only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netcd-cni-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.crt');
  await writeFile(ca, 'not really a certificate');
  t.equal(realHost.isReadableFile(ca), true);
  t.equal(realHost.isReadableFile(dir), false, 'a directory');
  t.equal(realHost.isReadableFile(join(dir, 'missing.crt')), false);
  const config = parseNetworkConfig(withIpam({ trustedCaFile: ca }), envFor('ADD'), {
    env: {},
    host: realHost,
  });
  t.same(config.ipam.tls, { trustedCaFile: ca });
  t.equal(config.ipam.nodeName.length > 0, true, 'the real host name is a valid node name here');
});
