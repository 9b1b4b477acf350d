import fc from 'fast-check';
import t from 'tap';
import {
  blockCount,
  blockOf,
  CidrError,
  contains,
  formatCidr,
  formatIp,
  nthBlock,
  overlaps,
  parseCidr,
  parseIp,
} from './cidr.js';

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
  t.equal(formatCidr(parseCidr('10.22.0.1/16', false)), '10.22.0.0/16');
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
