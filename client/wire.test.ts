import fc from 'fast-check';
import t from 'tap';
import { NetcdError } from './errors.js';
import { idOut, prefixEnd, toId, toNumber } from './wire.js';

t.test('prefixEnd is the smallest key after every key with the prefix', async (t) => {
  t.same(prefixEnd(Buffer.from('a/')), Buffer.from('a0'));
  t.same(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  t.same(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]), 'all 0xff: to the end of the keyspace');
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 6 }), fc.uint8Array({ maxLength: 4 }), (p, rest) => {
      const prefix = Buffer.from(p);
      const end = prefixEnd(prefix);
      if (end.equals(Buffer.from([0]))) return;
      const key = Buffer.concat([prefix, Buffer.from(rest)]);
      return Buffer.compare(key, end) < 0 && Buffer.compare(prefix, end) < 0;
    }),
  );
});

t.test('64-bit integers stay exact', async (t) => {
  t.equal(toNumber('42'), 42);
  t.equal(toNumber(undefined), 0);
  t.throws(() => toNumber('9007199254740993'), NetcdError);
  t.equal(toId('7587869437343358210'), 7587869437343358210n);
  t.equal(idOut(7587869437343358210n), '7587869437343358210');
  t.equal(toId(null), 0n);
});
