// Proves the ADD result has the exact JSON of each supported cniVersion (version field in ips up to
// 0.4.0, route attributes only from 1.1.0, empty parts left out), VERSION's exact answer, and how
// prevResult addresses are read for CHECK.

import t from 'tap';
import { formatInterface } from '../ipam/cidr.js';
import { CniError } from './errors.js';
import { type IpamResult, prevResultAddresses, resultJson, versionJson } from './result.js';

const dualStack: IpamResult = {
  ips: [
    { address: '10.22.0.12/16', gateway: '10.22.0.1', version: 4 },
    { address: 'fd00::5/64', version: 6 },
  ],
  routes: [
    { dst: '0.0.0.0/0' },
    { dst: '192.168.0.0/16', gw: '10.22.0.254', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 },
  ],
  dns: { nameservers: ['10.22.0.2'], domain: 'cluster.local', search: ['a.local'], options: ['ndots:5'] },
};

const dns = {
  nameservers: ['10.22.0.2'],
  domain: 'cluster.local',
  search: ['a.local'],
  options: ['ndots:5'],
};

t.test('0.3.0, 0.3.1 and 0.4.0: ips carry "version"; routes only dst and gw', async (t) => {
  for (const version of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    t.equal(
      JSON.stringify(resultJson(dualStack, version)),
      JSON.stringify({
        cniVersion: version,
        ips: [
          { version: '4', address: '10.22.0.12/16', gateway: '10.22.0.1' },
          { version: '6', address: 'fd00::5/64' },
        ],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.22.0.254' }],
        dns,
      }),
      version,
    );
  }
});

t.test('1.0.0: no "version" in ips; routes still only dst and gw', async (t) => {
  t.equal(
    JSON.stringify(resultJson(dualStack, '1.0.0')),
    JSON.stringify({
      cniVersion: '1.0.0',
      ips: [{ address: '10.22.0.12/16', gateway: '10.22.0.1' }, { address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.22.0.254' }],
      dns,
    }),
  );
});

t.test('1.1.0: routes keep mtu, advmss, priority, table and scope', async (t) => {
  t.equal(
    JSON.stringify(resultJson(dualStack, '1.1.0')),
    JSON.stringify({
      cniVersion: '1.1.0',
      ips: [{ address: '10.22.0.12/16', gateway: '10.22.0.1' }, { address: 'fd00::5/64' }],
      routes: [
        { dst: '0.0.0.0/0' },
        {
          dst: '192.168.0.0/16',
          gw: '10.22.0.254',
          mtu: 1400,
          advmss: 1360,
          priority: 10,
          table: 100,
          scope: 0,
        },
      ],
      dns,
    }),
  );
});

t.test('empty routes and dns are left out', async (t) => {
  const bare: IpamResult = {
    ips: [{ address: '10.22.0.12/16', version: 4 }],
    routes: [],
    dns: { search: [], domain: '' },
  };
  t.equal(
    JSON.stringify(resultJson(bare, '1.1.0')),
    '{"cniVersion":"1.1.0","ips":[{"address":"10.22.0.12/16"}]}',
  );
  t.equal(
    JSON.stringify(resultJson(bare, '0.4.0')),
    '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.22.0.12/16"}]}',
  );
});

t.test('VERSION lists every supported version', async (t) => {
  t.equal(
    JSON.stringify(versionJson('1.0.0')),
    '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}',
  );
});

t.test('prevResult addresses are read from any version, with interface indexes or not', async (t) => {
  const prev = {
    cniVersion: '0.4.0',
    interfaces: [{ name: 'eth0', sandbox: '/run/netns/a' }],
    ips: [
      { version: '4', interface: 0, address: '10.22.0.12/16', gateway: '10.22.0.1' },
      { address: 'FD00::5/64' },
    ],
  };
  t.same(prevResultAddresses(prev).map(formatInterface), ['10.22.0.12/16', 'fd00::5/64']);
  t.same(prevResultAddresses({ cniVersion: '1.1.0' }), [], 'no ips');
  const failure = (v: unknown) => {
    try {
      prevResultAddresses(v);
    } catch (err) {
      if (err instanceof CniError) return [err.code, err.message];
    }
    return null;
  };
  t.same(failure('x'), [7, 'prevResult: must be an object (the result of the ADD)']);
  t.same(failure({ ips: {} }), [7, 'prevResult.ips: must be an array']);
  t.same(failure({ ips: [{ address: '10.22.0.12' }] }), [
    7,
    'prevResult.ips[0].address: must be an address in CIDR form',
  ]);
});
