import t from 'tap';
import { parseIp } from './cidr.js';
import { describePool, PoolError, parsePool, usable } from './pool.js';

const ip = (s: string) => parseIp(s).value;

t.test('pool defaults follow host-local: network, broadcast and gateway are never handed out', async (t) => {
  const p = parsePool({ name: 'p', cidr: '10.22.0.0/24' });
  t.same(describePool(p), {
    name: 'p',
    cidr: '10.22.0.0/24',
    blockSize: 26,
    rangeStart: '10.22.0.1',
    rangeEnd: '10.22.0.254',
    gateway: '10.22.0.1',
    exclude: [],
  });
  t.equal(usable(p, ip('10.22.0.0')), false);
  t.equal(usable(p, ip('10.22.0.1')), false, 'gateway');
  t.equal(usable(p, ip('10.22.0.2')), true);
  t.equal(usable(p, ip('10.22.0.255')), false, 'broadcast');
  const v6 = parsePool({ name: 'v6', cidr: 'fd00::/64' });
  t.equal(v6.blockPrefix, 122);
  t.equal(usable(v6, ip('fd00::')), false);
  t.equal(usable(v6, ip('fd00::ffff:ffff:ffff:ffff')), true, 'IPv6 has no broadcast');
  t.equal(parsePool({ name: 'small', cidr: '10.9.0.0/28' }).blockPrefix, 28, 'blocks never exceed the pool');
  const p32 = parsePool({ name: 'one', cidr: '10.9.9.9/32' });
  t.equal(usable(p32, ip('10.9.9.9')), true, 'a /32 holds one usable address');
});

t.test('ranges, gateway and exclusions', async (t) => {
  const p = parsePool({
    name: 'r',
    cidr: '10.22.0.0/16',
    rangeStart: '10.22.0.10',
    rangeEnd: '10.22.0.250',
    gateway: '10.22.0.1',
    exclude: ['10.22.0.64/30', '10.22.0.100-10.22.0.101', '10.22.0.200'],
  });
  t.equal(usable(p, ip('10.22.0.9')), false);
  t.equal(usable(p, ip('10.22.0.10')), true);
  t.equal(usable(p, ip('10.22.0.251')), false);
  for (const x of ['10.22.0.64', '10.22.0.67', '10.22.0.100', '10.22.0.101', '10.22.0.200'])
    t.equal(usable(p, ip(x)), false, `${x} excluded`);
  t.equal(usable(p, ip('10.22.0.68')), true);
});

t.test('bad pools are refused with the field named', async (t) => {
  t.throws(() => parsePool({ name: 'bad name', cidr: '10.0.0.0/8' }), PoolError);
  t.throws(() => parsePool({ name: 'p', cidr: '10.0.0.1/8' }), /cidr: .*host bits set/);
  t.throws(
    () => parsePool({ name: 'p', cidr: '10.0.0.0/24', rangeStart: '10.0.1.1' }),
    /rangeStart: 10\.0\.1\.1 is not inside/,
  );
  t.throws(
    () => parsePool({ name: 'p', cidr: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.8' }),
    /after rangeEnd/,
  );
  t.throws(() => parsePool({ name: 'p', cidr: '10.0.0.0/24', gateway: 'x' }), /gateway: invalid IP address/);
  t.throws(() => parsePool({ name: 'p', cidr: '10.0.0.0/24', exclude: ['fd00::/64'] }), /not IPv4/);
  t.throws(
    () => parsePool({ name: 'p', cidr: '10.0.0.0/24', exclude: ['10.0.0.9-10.0.0.8'] }),
    /runs backwards/,
  );
  t.throws(() => parsePool({ name: 'p', cidr: '10.0.0.0/8', blockSize: 8 }), /more than 65536/);
  t.throws(() => parsePool({ name: 'p', cidr: '10.0.0.0/8', blockSize: 40 }), /not a prefix length/);
});
