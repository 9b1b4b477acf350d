import t from 'tap';
import { compare, op, TxnBuilder, txnRequest, txnWrites } from './txn.js';

t.test('compares and ops become etcd wire requests', async (t) => {
  const spec = new TxnBuilder(async () => {
    throw new Error('not committed here');
  })
    .if(compare.modRevision('k').equal(5), compare.value('v', { prefix: true }).notEqual('x'))
    .onSuccess(op.put('k', 'new', { lease: 7n }))
    .onFailure(op.get('k'))
    .spec();
  const wire = txnRequest(spec) as { compare: object[]; success: object[]; failure: object[] };
  t.match(wire.compare[0], { key: Buffer.from('k'), result: 'EQUAL', target: 'MOD', mod_revision: 5 });
  t.match(wire.compare[1], {
    key: Buffer.from('v'),
    range_end: Buffer.from('w'),
    target: 'VALUE',
    value: Buffer.from('x'),
  });
  t.match(wire.success[0], { request_put: { key: Buffer.from('k'), value: Buffer.from('new'), lease: '7' } });
  t.match(wire.failure[0], { request_range: { key: Buffer.from('k') } });
  t.equal(txnWrites(spec), true);
  t.equal(txnWrites({ compares: [], success: [op.get('a')], failure: [] }), false);
  t.equal(
    txnWrites({
      compares: [],
      success: [op.txn({ compares: [], success: [], failure: [op.delete('a')] })],
      failure: [],
    }),
    true,
    'a write in a nested txn counts',
  );
  t.match(compare.lease('k').greater(3n).wire, { target: 'LEASE', result: 'GREATER', lease: '3' });
  t.match(compare.version('k').less(2).wire, { target: 'VERSION', result: 'LESS', version: 2 });
  t.match(compare.createRevision('k').equal(0).wire, { target: 'CREATE', create_revision: 0 });
});
