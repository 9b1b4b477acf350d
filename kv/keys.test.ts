// Key ordering and etcd's range conventions.
import fc from 'fast-check';
import t from 'tap';
import {
  bytesCompare,
  inInterval,
  intervalsOverlap,
  keyBytes,
  keyInterval,
  keyString,
  prefixEnd,
} from './keys.js';

t.test('key strings order exactly like bytes and round-trip', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, c) => {
      const byBytes = Math.sign(bytesCompare(a, c));
      const x = keyString(a);
      const y = keyString(c);
      const byString = x < y ? -1 : x > y ? 1 : 0;
      return byBytes === byString && bytesCompare(keyBytes(x), a) === 0;
    }),
  );
  t.equal(keyString(new Uint8Array([0xff, 0x00, 0x61])), '\u00ff\u0000a');
});

t.test('range ends: single key, from key, half-open range, prefix end', async (t) => {
  const b = (s: string) => new TextEncoder().encode(s);
  t.ok(inInterval('a', keyInterval(b('a'), undefined)));
  t.notOk(inInterval('ab', keyInterval(b('a'), undefined)));
  t.ok(inInterval('zzz', keyInterval(b('a'), new Uint8Array([0]))));
  t.notOk(inInterval('c', keyInterval(b('a'), b('c'))));
  t.same(prefixEnd(b('ab')), b('ac'));
  t.same(prefixEnd(new Uint8Array([0x61, 0xff])), b('b'));
  t.same(prefixEnd(new Uint8Array([0xff, 0xff])), new Uint8Array([0]));
  t.ok(intervalsOverlap(keyInterval(b('a'), b('c')), keyInterval(b('b'), undefined)));
  t.notOk(intervalsOverlap(keyInterval(b('a'), b('c')), keyInterval(b('c'), undefined)));
  t.ok(intervalsOverlap(keyInterval(b('x'), new Uint8Array([0])), keyInterval(b('a'), b('y'))));
});
