// Proves addresses parse strictly and print canonically (RFC 5952 for IPv6), and that subnet
// arithmetic (network, last address, containment) is exact at the edges.

import t from 'tap';
import {
  formatCidr,
  formatIp,
  lastOf,
  networkOf,
  parseCidr,
  parseIp,
  parseIpMaybeWithPrefix,
  subnetContains,
} from './ip.js';

const canonical = (text: string) => {
  const ip = parseIp(text);
  return ip === null ? null : formatIp(ip);
};

t.test('IPv4 parses to its number and prints back the same', async (t) => {
  t.same(parseIp('10.22.0.1'), { version: 4, value: 0x0a160001n });
  t.same(parseIp('0.0.0.0'), { version: 4, value: 0n });
  t.same(parseIp('255.255.255.255'), { version: 4, value: 0xffffffffn });
  t.equal(canonical('192.168.1.254'), '192.168.1.254');
});

t.test('IPv4 with leading zeros, missing or extra octets, or octets above 255 is refused', async (t) => {
  for (const bad of ['010.1.1.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4 ', '', 'a.b.c.d', '1.2.3.-4'])
    t.equal(parseIp(bad), null, bad);
});

t.test('IPv6 prints in RFC 5952 form whatever the input spelling', async (t) => {
  t.equal(canonical('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  t.equal(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'first of two equal runs');
  t.equal(canonical('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group stays');
  t.equal(canonical('::'), '::');
  t.equal(canonical('::1'), '::1');
  t.equal(canonical('fd00::'), 'fd00::');
  t.equal(canonical('1:0:0:2:0:0:0:3'), '1:0:0:2::3', 'the longest run wins');
  t.equal(canonical('::ffff:10.1.2.3'), '::ffff:a01:203', 'embedded IPv4 tail');
  t.same(parseIp('::1'), { version: 6, value: 1n });
});

t.test('malformed IPv6 is refused', async (t) => {
  for (const bad of [
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fe80::1%eth0',
    '::g',
    '1:2:3:4:5:6:7::8',
    ':1:2::',
  ])
    t.equal(parseIp(bad), null, bad);
});

t.test('CIDRs keep host bits as written; network and last address follow the prefix', async (t) => {
  const cidr = parseCidr('10.22.3.4/16');
  if (cidr === null) throw new Error('unparsed');
  t.equal(formatCidr(cidr), '10.22.3.4/16');
  t.equal(formatIp(networkOf(cidr)), '10.22.0.0');
  t.equal(formatIp(lastOf(cidr)), '10.22.255.255');
  const v6 = parseCidr('fd00:1::/64');
  if (v6 === null) throw new Error('unparsed');
  t.equal(formatIp(lastOf(v6)), 'fd00:1::ffff:ffff:ffff:ffff');
  const all = parseCidr('0.0.0.0/0');
  if (all === null) throw new Error('unparsed');
  t.equal(formatIp(lastOf(all)), '255.255.255.255');
});

t.test('bad CIDRs are refused', async (t) => {
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/a',
    'fd00::/129',
    '10.0.0.0/1234',
    'x/8',
  ])
    t.equal(parseCidr(bad), null, bad);
});

t.test('containment is by family and prefix', async (t) => {
  const subnet = parseCidr('10.22.0.0/16');
  if (subnet === null) throw new Error('unparsed');
  const at = (s: string) => {
    const ip = parseIp(s);
    if (ip === null) throw new Error(s);
    return ip;
  };
  t.equal(subnetContains(subnet, at('10.22.255.255')), true);
  t.equal(subnetContains(subnet, at('10.22.0.0')), true);
  t.equal(subnetContains(subnet, at('10.23.0.0')), false);
  t.equal(subnetContains(subnet, at('::a16:1')), false, 'same number, other family');
});

t.test('requested addresses may carry a prefix, which is dropped', async (t) => {
  t.same(parseIpMaybeWithPrefix('10.22.0.5/16'), { version: 4, value: 0x0a160005n });
  t.same(parseIpMaybeWithPrefix('10.22.0.5'), { version: 4, value: 0x0a160005n });
  t.equal(parseIpMaybeWithPrefix('10.22.0.5/40'), null);
});
