// Proves addresses parse strictly and print canonically (RFC 5952 for IPv6), that interface
// addresses keep their host bits while subnets refuse them, and that the CIDR arithmetic (last
// address, containment, blocks) is exact at the edges.

import fc from 'fast-check';
import t from 'tap';
import {
  blockCount,
  blockOf,
  CidrError,
  contains,
  formatCidr,
  formatInterface,
  formatIp,
  lastOf,
  nthBlock,
  overlaps,
  parseCidr,
  parseInterface,
  parseIp,
  parseOrNull,
} from './cidr.js';

const canonical = (text: string) => {
  const ip = parseIp(text);
  return formatIp(ip.family, ip.value);
};

t.test('IPv4 and IPv6 parse and format canonically', async (t) => {
  t.same(parseIp('10.22.0.1'), { family: 4, value: 0x0a160001n });
  t.equal(formatIp(4, 0x0a160001n), '10.22.0.1');
  t.equal(
    formatIp(6, parseIp('2001:db8:0:0:1:0:0:1').value),
    '2001:db8::1:0:0:1',
    'the first longest zero run',
  );
  t.equal(formatIp(6, parseIp('fd00::').value), 'fd00::');
  t.equal(formatIp(6, parseIp('::ffff:10.0.0.1').value), '::ffff:a00:1');
  t.equal(formatIp(6, 0n), '::');
  t.equal(
    formatIp(6, parseIp('1:0:1:1:1:1:1:1').value),
    '1:0:1:1:1:1:1:1',
    'a single zero group is not compressed',
  );
  t.throws(() => parseIp('10.0.0.256'), CidrError);
  t.throws(() => parseIp('fd00:::1'), /invalid IP address/);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
      const text = formatIp(6, v);
      // The WHATWG URL parser canonicalises IPv6 hosts the same way (RFC 5952).
      return parseIp(text).value === v && new URL(`http://[${text}]/`).hostname === `[${text}]`;
    }),
  );
  fc.assert(fc.property(fc.ipV4(), (ip) => formatIp(4, parseIp(ip).value) === ip));
});

t.test('CIDRs: strict parsing, containment, blocks', async (t) => {
  const pool = parseCidr('10.22.0.0/16');
  t.equal(formatCidr(pool), '10.22.0.0/16');
  t.throws(() => parseCidr('10.22.0.1/16'), /host bits set \(did you mean 10\.22\.0\.0\/16\?\)/);
  t.equal(formatCidr(parseInterface('10.22.0.1/16').cidr), '10.22.0.0/16');
  t.throws(() => parseCidr('10.22.0.0'), /no \/prefix/);
  t.throws(() => parseCidr('10.22.0.0/33'), /bad prefix length/);
  t.throws(() => parseCidr('fd00::/x'), /bad prefix length/);
  t.equal(contains(pool, 4, parseIp('10.22.255.255').value), true);
  t.equal(contains(pool, 4, parseIp('10.23.0.0').value), false);
  t.equal(contains(pool, 6, 0n), false);
  t.equal(blockCount(pool, 26), 1024n);
  t.equal(formatCidr(nthBlock(pool, 26, 3n)), '10.22.0.192/26');
  t.equal(formatCidr(blockOf(4, parseIp('10.22.1.77').value, 26)), '10.22.1.64/26');
  t.equal(overlaps(parseCidr('10.0.0.0/8'), pool), true);
  t.equal(overlaps(parseCidr('10.23.0.0/16'), pool), false);
  t.equal(formatCidr(nthBlock(parseCidr('fd00::/120'), 122, 2n)), 'fd00::80/122');
});

t.test('IPv4 edges parse to their numbers', async (t) => {
  t.same(parseIp('0.0.0.0'), { family: 4, value: 0n });
  t.same(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
  t.same(parseIp('::1'), { family: 6, value: 1n });
});

t.test(
  'IPv4 with leading zeros, missing or extra octets, octets above 255 or spaces is refused',
  async (t) => {
    for (const bad of ['010.1.1.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4 ', '', 'a.b.c.d', '1.2.3.-4'])
      t.throws(
        () => parseIp(bad),
        { name: 'CidrError', message: `invalid IP address ${JSON.stringify(bad)}` },
        bad,
      );
  },
);

t.test('malformed IPv6, and IPv6 with a zone id, is refused', async (t) => {
  for (const bad of [
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fe80::1%eth0',
    '::g',
    '1:2:3:4:5:6:7::8',
    ':1:2::',
    '::ffff:01.2.3.4',
  ])
    t.throws(() => parseIp(bad), CidrError, bad);
});

t.test('IPv6 prints in RFC 5952 form whatever the input spelling', async (t) => {
  t.equal(
    canonical('2001:0DB8:0000:0000:0000:0000:0000:0001'),
    '2001:db8::1',
    'lower case, no leading zeros',
  );
  t.equal(canonical('::1'), '::1');
  t.equal(canonical('1:0:0:2:0:0:0:3'), '1:0:0:2::3', 'the longest run wins');
  t.equal(canonical('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0', '"::" for a single zero group is undone');
  t.equal(canonical('1:2:3:4:5:6:10.1.2.3'), '1:2:3:4:5:6:a01:203', 'an IPv4 tail after six groups');
});

t.test('interface addresses keep their host bits; the subnet follows the prefix', async (t) => {
  const ifa = parseInterface('10.22.3.4/16');
  t.same(ifa, { family: 4, value: 0x0a160304n, cidr: { family: 4, base: 0x0a160000n, prefix: 16 } });
  t.equal(formatInterface(ifa), '10.22.3.4/16');
  t.equal(formatIp(4, lastOf(ifa.cidr)), '10.22.255.255');
  t.equal(formatInterface(parseInterface('FD00::0005/64')), 'fd00::5/64', 'printed canonically');
  t.equal(formatIp(6, lastOf(parseCidr('fd00:1::/64'))), 'fd00:1::ffff:ffff:ffff:ffff');
  t.equal(formatIp(4, lastOf(parseCidr('0.0.0.0/0'))), '255.255.255.255');
  t.equal(formatIp(6, lastOf(parseCidr('::/0'))), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
});

t.test('bad CIDRs are refused whether host bits may be set or not', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['10.0.0.0', /no \/prefix/],
    ['10.0.0.0/33', /bad prefix length/],
    ['10.0.0.0/', /bad prefix length/],
    ['10.0.0.0/a', /bad prefix length/],
    ['10.0.0.0/-1', /bad prefix length/],
    ['fd00::/129', /bad prefix length/],
    ['10.0.0.0/1234', /bad prefix length/],
    ['10.0.0.0/0024', /bad prefix length/],
    ['x/8', /invalid IP address "x"/],
    ['fe80::%eth0/64', /invalid IP address/],
  ];
  for (const [bad, why] of cases) {
    t.throws(() => parseInterface(bad), why, bad);
    t.throws(() => parseCidr(bad), why, bad);
  }
});

t.test('containment is by family as well as by number', async (t) => {
  const subnet = parseCidr('10.22.0.0/16');
  t.equal(contains(subnet, 4, parseIp('10.22.0.0').value), true, 'the network address');
  t.equal(contains(subnet, 4, parseIp('10.21.255.255').value), false, 'just below');
  t.equal(contains(subnet, 6, parseIp('::a16:1').value), false, 'same number, other family');
});

t.test('parseOrNull turns invalid input into null and lets other errors through', async (t) => {
  t.equal(parseOrNull(parseIp, '10.0.0.256'), null);
  t.equal(parseOrNull(parseCidr, '10.22.0.1/16'), null, 'host bits set');
  t.same(parseOrNull(parseIp, '10.0.0.1'), { family: 4, value: 0x0a000001n });
  t.throws(
    () =>
      parseOrNull(() => {
        throw new TypeError('a bug');
      }, ''),
    TypeError,
  );
});
