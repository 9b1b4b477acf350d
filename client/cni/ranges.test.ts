// Proves ranges in host-local's shape get host-local's defaults, stay inside their subnets, never
// overlap, and that every mistake is refused with a message naming the field.

import t from 'tap';
import { parseIp } from '../ipam/cidr.js';
import { CniError } from './errors.js';
import {
  checkRangeSets,
  parseRange,
  parseRangeSet,
  parseRangeSets,
  rangeSetIndexOf,
  toRangeSet,
} from './ranges.js';

function failure(fn: () => unknown): { code: number; msg: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message };
    throw err;
  }
  throw new Error('expected a CniError');
}

const spec = (raw: unknown) => parseRange(raw, 'r').spec;

t.test(
  'defaults: start after the network address, end below broadcast (IPv4) or at the last address',
  async (t) => {
    t.same(spec({ subnet: '10.22.0.0/16' }), {
      subnet: '10.22.0.0/16',
      rangeStart: '10.22.0.1',
      rangeEnd: '10.22.255.254',
      gateway: '10.22.0.1',
    });
    t.same(spec({ subnet: 'FD00:0::/120' }), {
      subnet: 'fd00::/120',
      rangeStart: 'fd00::1',
      rangeEnd: 'fd00::ff',
      gateway: 'fd00::1',
    });
    t.same(
      spec({
        subnet: '10.22.0.0/16',
        rangeStart: '10.22.0.10',
        rangeEnd: '10.22.0.250',
        gateway: '10.22.0.1',
      }),
      {
        subnet: '10.22.0.0/16',
        rangeStart: '10.22.0.10',
        rangeEnd: '10.22.0.250',
        gateway: '10.22.0.1',
      },
    );
    t.same(spec({ subnet: '192.168.0.0/30' }).rangeEnd, '192.168.0.2', 'a /30 still has two hosts');
  },
);

t.test('range mistakes are code 7 (or 2 for an unknown key) with the field named', async (t) => {
  const cases: Array<[unknown, number, string]> = [
    ['10.0.0.0/8', 7, 'r: must be an object with a subnet'],
    [{}, 7, 'r.subnet: missing'],
    [{ subnet: '10.0.0.0' }, 7, 'r.subnet: "10.0.0.0" is not a CIDR'],
    [{ subnet: 10 }, 7, 'r.subnet: 10 is not a CIDR'],
    [{ subnet: '10.22.3.0/16' }, 7, 'r.subnet: 10.22.3.0/16 has host bits set (the network is 10.22.0.0/16)'],
    [{ subnet: '10.0.0.0/31' }, 7, 'r.subnet: 10.0.0.0/31 is too small to allocate from'],
    [{ subnet: 'fd00::/127' }, 7, 'r.subnet: fd00::/127 is too small to allocate from'],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, 7, 'r.rangeStart: 10.0.1.5 is not in 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', rangeEnd: 'fd00::5' }, 7, 'r.rangeEnd: fd00::5 is not in 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', gateway: 'x' }, 7, 'r.gateway: "x" is not an IP address'],
    [
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.0' },
      7,
      'r.rangeStart: 10.0.0.0 is the network or broadcast address',
    ],
    [
      { subnet: '10.0.0.0/24', rangeEnd: '10.0.0.255' },
      7,
      'r.rangeEnd: 10.0.0.255 is the network or broadcast address',
    ],
    [
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.10' },
      7,
      'r: rangeStart 10.0.0.50 is after rangeEnd 10.0.0.10',
    ],
    [{ subnet: '10.0.0.0/24', rangestart: '10.0.0.5' }, 2, 'unsupported field r.rangestart: "10.0.0.5"'],
  ];
  for (const [raw, code, msg] of cases)
    t.same(
      failure(() => parseRange(raw, 'r')),
      { code, msg },
      msg,
    );
});

t.test('a range set holds one family, at least one range, no overlaps', async (t) => {
  t.same(
    failure(() => parseRangeSet([], 's')),
    { code: 7, msg: 's: empty range set' },
  );
  t.same(
    failure(() => parseRangeSet({}, 's')),
    { code: 7, msg: 's: must be an array of ranges' },
  );
  t.same(
    failure(() => parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }], 's')),
    {
      code: 7,
      msg: 's: mixes IPv4 and IPv6 ranges',
    },
  );
  t.same(
    failure(() =>
      parseRangeSet(
        [
          { subnet: '10.0.0.0/24' },
          { subnet: '10.0.0.0/24', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.110' },
        ],
        's',
      ),
    ),
    { code: 7, msg: 's: ranges 10.0.0.1-10.0.0.254 and 10.0.0.100-10.0.0.110 overlap' },
  );
  t.same(
    failure(() => parseRangeSet(Array(65).fill({ subnet: '10.0.0.0/24' }), 's')),
    {
      code: 7,
      msg: 's: more than 64 ranges',
    },
  );
  const twoHalves = parseRangeSet(
    [
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.99' },
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.200' },
    ],
    's',
  );
  t.equal(twoHalves.length, 2, 'adjacent ranges of one subnet do not overlap');
});

t.test('range sets must not overlap each other and stay within the bound', async (t) => {
  const sets = parseRangeSets(
    [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }], [{ subnet: '10.0.0.0/16' }]],
    'ipam.ranges',
  );
  t.same(
    failure(() => checkRangeSets(sets, 'ipam.ranges')),
    { code: 7, msg: 'ipam.ranges: range sets 0 and 2 overlap' },
  );
  t.same(
    failure(() => parseRangeSets({}, 'ipam.ranges')),
    {
      code: 7,
      msg: 'ipam.ranges: must be an array of range sets (arrays of ranges)',
    },
  );
  const many = parseRangeSets(
    Array.from({ length: 17 }, (_, i) => [{ subnet: `10.${i}.0.0/16` }]),
    'ipam.ranges',
  );
  t.same(
    failure(() => checkRangeSets(many, 'ipam.ranges')),
    { code: 7, msg: 'ipam.ranges: more than 16 range sets' },
  );
});

t.test('an address is matched to the set whose range (start..end) holds it', async (t) => {
  const sets = parseRangeSets(
    [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' }], [{ subnet: 'fd00::/64' }]],
    'x',
  );
  t.equal(rangeSetIndexOf(sets, parseIp('10.0.0.15')), 0);
  t.equal(rangeSetIndexOf(sets, parseIp('10.0.0.5')), -1, 'in the subnet, outside the range');
  t.equal(rangeSetIndexOf(sets, parseIp('fd00::9')), 1);
  t.equal(rangeSetIndexOf(sets, parseIp('::a00:f')), -1, 'the same number in the other family');
  t.same(toRangeSet(sets[1] ?? []), [
    { subnet: 'fd00::/64', rangeStart: 'fd00::1', rangeEnd: 'fd00::ffff:ffff:ffff:ffff', gateway: 'fd00::1' },
  ]);
});
