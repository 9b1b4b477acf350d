// The register machine: put, cas, per-client deduplication, and snapshot round trips.
import t from 'tap';
import { decodeCommand, encodeCommand, RegisterMachine } from './app.js';

t.test('put, cas and duplicate suppression', async (t) => {
  const m = new RegisterMachine();
  t.same(m.apply({ op: 'put', client: 1, seq: 1, key: 'x', value: 'a' }), {
    client: 1,
    seq: 1,
    duplicate: false,
  });
  t.equal(m.get('x'), 'a');
  t.same(m.apply({ op: 'cas', client: 2, seq: 1, key: 'x', expect: 'a', value: 'b' }), {
    client: 2,
    seq: 1,
    swapped: true,
    duplicate: false,
  });
  t.same(m.apply({ op: 'cas', client: 2, seq: 2, key: 'x', expect: 'a', value: 'c' }), {
    client: 2,
    seq: 2,
    swapped: false,
    duplicate: false,
  });
  t.equal(m.get('x'), 'b');
  // A duplicated (or older) command of a client is not applied again.
  t.same(m.apply({ op: 'put', client: 1, seq: 1, key: 'x', value: 'z' }), {
    client: 1,
    seq: 1,
    duplicate: true,
  });
  t.equal(m.get('x'), 'b');
  t.equal(m.get('nothing'), null);
});

t.test('snapshot restores the same state, byte for byte', async (t) => {
  const m = new RegisterMachine();
  m.apply({ op: 'put', client: 3, seq: 1, key: 'y', value: '1' });
  m.apply({ op: 'put', client: 1, seq: 4, key: 'x', value: '2' });
  const r = RegisterMachine.restore(m.snapshot());
  t.same([...r.values].sort(), [...m.values].sort());
  t.same(Buffer.from(r.snapshot()), Buffer.from(m.snapshot()));
  t.equal(RegisterMachine.restore(new Uint8Array(0)).values.size, 0);
  const cmd = { op: 'cas', client: 1, seq: 2, key: 'k', expect: null, value: 'v' } as const;
  t.same(decodeCommand(encodeCommand(cmd)), cmd);
});
