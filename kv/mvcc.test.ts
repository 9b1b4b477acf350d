// The MVCC store against etcd's semantics: revisions, versions, generations, range options,
// txn compares and atomicity, compaction, and a model-based property test over random histories.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { isKvError } from './errors.js';
import { type LeaseHooks, MvccStore } from './mvcc.js';
import { validateTxn } from './txn-validate.js';
import type {
  KeyValue,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from './types.js';

const FILE = 'kv/mvcc.test.ts';
const checkProperty = propertyChecker(FILE);
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const s = (u: Uint8Array): string => new TextDecoder().decode(u);
const brief = (kv: KeyValue): string =>
  `${s(kv.key)}=${s(kv.value)}@c${kv.createRevision}m${kv.modRevision}v${kv.version}l${kv.lease}`;

t.test('put creates revisions, versions and create revisions like etcd', async (t) => {
  const m = new MvccStore();
  t.equal(m.currentRevision, 1, 'a new store is at revision 1, as in etcd');
  t.equal(m.put({ key: b('a'), value: b('1') }).revision, 2, 'the first write makes revision 2');
  t.equal(m.put({ key: b('a'), value: b('2'), prevKv: true }).prevKv?.value.toString(), b('1').toString());
  t.equal(m.put({ key: b('b'), value: b('x') }).revision, 4);
  const r = m.range({ key: b('a'), rangeEnd: new Uint8Array([0]) });
  t.same(r.kvs.map(brief), ['a=2@c2m3v2l0', 'b=x@c4m4v1l0']);
  t.equal(r.count, 2);
  t.equal(r.revision, 4);
  // History reads see the past exactly.
  t.same(m.range({ key: b('a'), revision: 2 }).kvs.map(brief), ['a=1@c2m2v1l0']);
  t.same(m.range({ key: b('b'), revision: 3 }).kvs, []);
  t.same(m.range({ key: b('a'), rangeEnd: new Uint8Array([0]), revision: 1 }).kvs, [], 'revision 1: empty');
});

t.test('delete starts a new generation: create revision and version restart', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('k'), value: b('1') });
  m.put({ key: b('k'), value: b('2') });
  const d = m.deleteRange({ key: b('k'), prevKv: true });
  t.equal(d.deleted, 1);
  t.equal(d.revision, 4);
  t.same(d.prevKvs.map(brief), ['k=2@c2m3v2l0']);
  t.same(m.range({ key: b('k') }).kvs, []);
  t.same(m.range({ key: b('k'), revision: 3 }).kvs.map(brief), ['k=2@c2m3v2l0']);
  m.put({ key: b('k'), value: b('3') });
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=3@c5m5v1l0']);
  // Deleting nothing creates no revision.
  t.equal(m.deleteRange({ key: b('zzz') }).deleted, 0);
  t.equal(m.currentRevision, 5);
});

t.test('a new store is at revision 1 like etcd: readable there, empty, never compacted', async (t) => {
  const m = new MvccStore();
  t.equal(m.currentRevision, 1);
  t.equal(m.compactRevision, -1, "etcd's compact revision before any compaction");
  const all = { key: b('a'), rangeEnd: new Uint8Array([0]) };
  t.same(m.range({ ...all, revision: 1 }), { revision: 1, kvs: [], more: false, count: 0 });
  t.same(m.range(all), { revision: 1, kvs: [], more: false, count: 0 }, 'revision 0 is the current one');
  t.throws(() => m.range({ ...all, revision: 2 }), { code: 'FUTURE_REV' });
  t.same(m.txn({ compare: [], success: [{ range: all }], failure: [] }).revision, 1);
  t.same(m.deleteRange(all), { revision: 1, deleted: 0, prevKvs: [] }, 'deleting nothing: no revision');
  t.same(m.eventsBetween(0, 1, b('a'), new Uint8Array([0]), 10, true), []);
  t.same(m.hashKV(), m.hashKV(1), 'HashKV at 0 is HashKV at the current revision');
  t.same(m.hashKV(), { hash: m.hashKV().hash, revision: 1, compactRevision: -1 });
  t.throws(() => m.hashKV(2), { code: 'FUTURE_REV' });
  t.same(m.drainMutations(), [], 'nothing to store');
});

t.test('compaction of a new store: at 0 once (etcd), then at 1, the current revision', async (t) => {
  const m = new MvccStore();
  t.throws(() => m.compact(-1), { code: 'COMPACTED' }, 'not above -1');
  m.compact(0);
  t.equal(m.compactRevision, 0);
  t.throws(() => m.compact(0), { code: 'COMPACTED' }, 'compacting at 0 works only once');
  t.throws(() => m.compact(2), { code: 'FUTURE_REV' });
  m.compact(1);
  t.equal(m.compactRevision, 1, 'the current revision itself can be compacted');
  t.throws(() => m.compact(1), { code: 'COMPACTED' });
  t.same(m.range({ key: b('a'), revision: 1 }).kvs, [], 'the compact revision stays readable');
  t.throws(() => m.hashKV(1), { code: 'COMPACTED' }, 'HashKV at the compact revision: compacted (etcd)');
  t.equal(m.put({ key: b('a'), value: b('1') }).revision, 2);
  t.same(m.range({ key: b('a') }).kvs.map(brief), ['a=1@c2m2v1l0']);
  t.same(m.range({ key: b('a'), revision: 1 }).kvs, []);
});

t.test('HashKV: 0 is the current revision, past revisions hash their own history', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') }); // 2
  const at2 = m.hashKV(2);
  m.put({ key: b('a'), value: b('2') }); // 3
  m.put({ key: b('b'), value: b('x') }); // 4
  t.same(m.hashKV(), m.hashKV(4));
  t.equal(m.hashKV(2).hash, at2.hash, 'a past revision hashes what it held');
  t.equal(m.hashKV(2).revision, 4, 'the response carries the current revision');
  t.not(m.hashKV(3).hash, m.hashKV(4).hash);
  t.equal(m.hashKV(-1).hash, new MvccStore().hashKV().hash, 'a negative revision hashes nothing (etcd)');
  m.compact(3);
  t.throws(() => m.hashKV(3), { code: 'COMPACTED' });
  t.throws(() => m.hashKV(2), { code: 'COMPACTED' });
  t.same(m.hashKV(4), { hash: m.hashKV().hash, revision: 4, compactRevision: 3 });
});

t.test('restore refuses state numbered otherwise, and leaves the store as it was', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('keep'), value: b('1') });
  const before = m.hashKV();
  const rec = (modRevision: number) => ({
    key: b('k'),
    value: b('v'),
    createRevision: modRevision,
    modRevision,
    version: 1,
    lease: 0,
    tombstone: false,
    sub: 0,
  });
  t.throws(() => m.restore([], 0, 0), {
    code: 'CORRUPT',
    message: 'mvcc: corrupt data: current revision 0 below 1',
  });
  t.throws(() => m.restore([rec(1)], 1, -1), {
    code: 'CORRUPT',
    message: 'mvcc: corrupt data: a change at revision 1 outside (1, 1]',
  });
  t.throws(() => m.restore([rec(2), rec(3)], 2, -1), {
    code: 'CORRUPT',
    message: 'mvcc: corrupt data: a change at revision 3 outside (1, 2]',
  });
  t.throws(() => m.restore([], 3, 4), {
    code: 'CORRUPT',
    message: 'mvcc: corrupt data: compact revision 4 outside [-1, 3]',
  });
  t.throws(() => m.restore([], 3, -2), { code: 'CORRUPT' });
  t.same(m.hashKV(), before);
  t.same(m.range({ key: b('keep') }).kvs.map(brief), ['keep=1@c2m2v1l0']);
  m.restore([], 1, -1);
  t.same([m.currentRevision, m.compactRevision, m.keyCount()], [1, -1, 0], 'an empty state is a new store');
});

t.test('range: prefix, from-key, limit and more, count, keys-only, count-only', async (t) => {
  const m = new MvccStore();
  for (const k of ['a', 'ab', 'abc', 'b', 'c']) m.put({ key: b(k), value: b(k.toUpperCase()) });
  t.same(
    m.range({ key: b('ab'), rangeEnd: b('ac') }).kvs.map((kv) => s(kv.key)),
    ['ab', 'abc'],
  );
  t.same(
    m.range({ key: b('b'), rangeEnd: new Uint8Array([0]) }).kvs.map((kv) => s(kv.key)),
    ['b', 'c'],
  );
  const lim = m.range({ key: b('a'), rangeEnd: new Uint8Array([0]), limit: 2 });
  t.same(
    lim.kvs.map((kv) => s(kv.key)),
    ['a', 'ab'],
  );
  t.equal(lim.more, true);
  t.equal(lim.count, 5);
  t.equal(m.range({ key: b('a'), rangeEnd: new Uint8Array([0]), limit: 5 }).more, false);
  const ko = m.range({ key: b('a'), keysOnly: true });
  t.same(ko.kvs[0]?.value, new Uint8Array(0));
  const co = m.range({ key: b('a'), rangeEnd: new Uint8Array([0]), countOnly: true });
  t.same(co.kvs, []);
  t.equal(co.count, 5);
});

t.test('range: sort orders and targets, revision filters', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('3') });
  m.put({ key: b('b'), value: b('1') });
  m.put({ key: b('c'), value: b('2') });
  m.put({ key: b('b'), value: b('4') });
  const all = { key: b('a'), rangeEnd: new Uint8Array([0]) };
  t.same(
    m.range({ ...all, sortOrder: 'descend' }).kvs.map((kv) => s(kv.key)),
    ['c', 'b', 'a'],
  );
  t.same(
    m.range({ ...all, sortTarget: 'value' }).kvs.map((kv) => s(kv.key)),
    ['c', 'a', 'b'],
    'target without order sorts ascending',
  );
  t.same(
    m.range({ ...all, sortTarget: 'mod', sortOrder: 'descend' }).kvs.map((kv) => s(kv.key)),
    ['b', 'c', 'a'],
  );
  t.same(
    m.range({ ...all, sortTarget: 'version', sortOrder: 'descend', limit: 1 }).kvs.map((kv) => s(kv.key)),
    ['b'],
  );
  t.same(
    m.range({ ...all, minModRevision: 4 }).kvs.map((kv) => s(kv.key)),
    ['b', 'c'],
  );
  t.same(
    m.range({ ...all, maxCreateRevision: 3 }).kvs.map((kv) => s(kv.key)),
    ['a', 'b'],
  );
  const filtered = m.range({ ...all, minModRevision: 4, limit: 1 });
  t.equal(filtered.count, 3, 'count ignores filters, like etcd');
  t.equal(filtered.more, true);
});

t.test('errors: compacted, future revision, empty key, ignore flags on a missing key', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  m.put({ key: b('a'), value: b('2') });
  m.put({ key: b('a'), value: b('3') });
  t.throws(() => m.range({ key: b('a'), revision: 5 }), {
    code: 'FUTURE_REV',
    message: 'mvcc: required revision is a future revision',
  });
  m.compact(3);
  t.throws(() => m.range({ key: b('a'), revision: 2 }), {
    code: 'COMPACTED',
    message: 'mvcc: required revision has been compacted',
  });
  t.same(
    m.range({ key: b('a'), revision: 3 }).kvs.map(brief),
    ['a=2@c2m3v2l0'],
    'the compact revision itself stays readable',
  );
  t.throws(() => m.compact(3), { code: 'COMPACTED' });
  t.throws(() => m.compact(5), { code: 'FUTURE_REV' });
  t.throws(() => m.range({ key: new Uint8Array(0) }), { code: 'EMPTY_KEY' });
  t.throws(() => m.put({ key: b('nope'), value: new Uint8Array(0), ignoreValue: true }), {
    code: 'KEY_NOT_FOUND',
  });
  t.throws(() => m.put({ key: b('a'), value: b('x'), lease: 5 }), { code: 'LEASE_NOT_FOUND' });
  t.equal(m.currentRevision, 4, 'failed writes create no revision');
});

t.test('ignore_value and ignore_lease keep the previous value or lease', async (t) => {
  const m = new MvccStore();
  const leases = new Set([7]);
  const attached: string[] = [];
  m.leases = {
    has: (id) => leases.has(id),
    attach: (id, key) => attached.push(`+${id}:${s(key)}`),
    detach: (id, key) => attached.push(`-${id}:${s(key)}`),
  } satisfies LeaseHooks;
  m.put({ key: b('k'), value: b('v1'), lease: 7 });
  m.put({ key: b('k'), value: new Uint8Array(0), ignoreValue: true, ignoreLease: true });
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=v1@c2m3v2l7']);
  m.put({ key: b('k'), value: b('v3') });
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=v3@c2m4v3l0']);
  t.same(attached, ['+7:k', '-7:k']);
});

t.test('txn: compares on value, version, create, mod, lease; missing keys; ranges', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('x'), value: b('1') });
  m.put({ key: b('y'), value: b('2') });
  const ok = m.txn({
    compare: [
      { key: b('x'), target: 'value', result: 'equal', value: b('1') },
      { key: b('x'), target: 'version', result: 'equal', version: 1 },
      { key: b('y'), target: 'create', result: 'greater', createRevision: 2 },
      { key: b('y'), target: 'mod', result: 'less', modRevision: 4 },
      { key: b('x'), target: 'lease', result: 'equal', lease: 0 },
      { key: b('missing'), target: 'version', result: 'equal', version: 0 },
      { key: b('x'), rangeEnd: b('z'), target: 'version', result: 'equal', version: 1 },
    ],
    success: [{ put: { key: b('x'), value: b('10') } }, { range: { key: b('x') } }],
    failure: [],
  });
  t.equal(ok.succeeded, true);
  t.equal(ok.revision, 4);
  const read = ok.responses[1];
  t.ok(
    read !== undefined && 'range' in read && s(read.range.kvs[0]!.value) === '10',
    'reads in a txn see its earlier writes',
  );
  const fail = m.txn({
    compare: [{ key: b('missing'), target: 'value', result: 'equal', value: new Uint8Array(0) }],
    success: [{ put: { key: b('z'), value: b('no') } }],
    failure: [{ range: { key: b('x') } }],
  });
  t.equal(fail.succeeded, false, 'a value compare on a missing key never holds');
  t.equal(fail.revision, 4, 'a read-only branch creates no revision');
});

t.test('txn is atomic: a failing op rolls back every earlier change', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  m.put({ key: b('b'), value: b('x') });
  const before = m.hashKV();
  // An ignore_value put on a key that a from-key delete removed earlier in the same txn passes
  // validation (as in etcd 3.4, which then panics) and the checks made before the txn: it fails half-way.
  const req: TxnRequest = {
    compare: [],
    success: [
      { put: { key: b('a'), value: b('2') } },
      { deleteRange: { key: b('b'), rangeEnd: new Uint8Array([0]) } },
      { put: { key: b('b'), value: new Uint8Array(0), ignoreValue: true } },
    ],
    failure: [],
  };
  t.doesNotThrow(() => validateTxn(req));
  t.throws(() => m.txn(req), { code: 'KEY_NOT_FOUND' });
  t.equal(m.currentRevision, 3);
  t.same(m.range({ key: b('a'), rangeEnd: new Uint8Array([0]) }).kvs.map(brief), [
    'a=1@c2m2v1l0',
    'b=x@c3m3v1l0',
  ]);
  t.same(m.hashKV(), before);
  t.same(
    m.drainMutations().map((x) => (x.op === 'put' ? x.record.modRevision : -1)),
    [2, 3],
    'no mutation of the failed txn reaches the backend',
  );
  t.equal(m.put({ key: b('a'), value: b('ok') }).revision, 4, 'the next write takes the next revision');
});

t.test(
  'txn: nested compares and the checks that can fail it see the store as before it (etcd)',
  async (t) => {
    const m = new MvccStore();
    m.put({ key: b('a'), value: b('1') });
    const r = m.txn({
      compare: [],
      success: [
        { put: { key: b('a'), value: b('2') } },
        {
          txn: {
            compare: [{ key: b('a'), target: 'value', result: 'equal', value: b('1') }],
            success: [{ range: { key: b('a') } }],
            failure: [],
          },
        },
      ],
      failure: [],
    });
    const nested = r.responses[1];
    t.ok(
      nested !== undefined && 'txn' in nested && nested.txn.succeeded,
      "the compare saw a=1, not the txn's a=2",
    );
    const read = nested !== undefined && 'txn' in nested ? nested.txn.responses[0] : undefined;
    t.same(read !== undefined && 'range' in read ? read.range.kvs.map(brief) : null, ['a=2@c2m3v2l0']);

    m.put({ key: b('a'), value: b('3') });
    m.compact(4);
    const txn = (...success: RequestOp[]): TxnResponse => m.txn({ compare: [], success, failure: [] });
    t.throws(
      () => txn({ range: { key: b('a'), revision: 2 } }, { put: { key: b('c'), value: b('x'), lease: 99 } }),
      { code: 'LEASE_NOT_FOUND' },
      "puts are checked before ranges, whatever the ops' order",
    );
    t.throws(
      () => txn({ put: { key: b('c'), value: b('x') } }, { range: { key: b('a'), revision: 5 } }),
      { code: 'FUTURE_REV' },
      'a txn cannot read its own revision by number',
    );
    const ignoredOnMissing = { key: b('nope'), value: new Uint8Array(0), ignoreValue: true, lease: 99 };
    t.throws(
      () => txn({ put: ignoredOnMissing }),
      { code: 'KEY_NOT_FOUND' },
      'in a txn: ignore flags, then the lease',
    );
    t.throws(() => m.put(ignoredOnMissing), { code: 'LEASE_NOT_FOUND' }, 'a plain put: the lease first');
    t.equal(m.currentRevision, 4);
  },
);

t.test('txn: each response carries the revision its op saw; a nested txn header is 0 (etcd)', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  const r = m.txn({
    compare: [],
    success: [
      { range: { key: b('a') } },
      { deleteRange: { key: b('zz') } },
      { put: { key: b('b'), value: b('x') } },
      { deleteRange: { key: b('zz') } },
      { txn: { compare: [], success: [{ range: { key: b('a') } }], failure: [] } },
    ],
    failure: [],
  });
  const revisionOf = (op: ResponseOp): number =>
    'range' in op
      ? op.range.revision
      : 'put' in op
        ? op.put.revision
        : 'deleteRange' in op
          ? op.deleteRange.revision
          : op.txn.revision;
  t.same(r.responses.map(revisionOf), [2, 2, 3, 3, 0], 'before the first write: the old revision');
  const nested = r.responses[4];
  t.same(nested !== undefined && 'txn' in nested ? nested.txn.responses.map(revisionOf) : null, [3]);
  t.equal(r.revision, 3);
});

t.test('range: a negative limit is no limit, a negative revision reads the current one (etcd)', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  m.put({ key: b('b'), value: b('2') });
  m.put({ key: b('a'), value: b('3') });
  m.compact(3);
  const all = { key: b('a'), rangeEnd: new Uint8Array([0]) };
  t.same(m.range({ ...all, limit: -1 }).kvs.map(brief), ['a=3@c2m4v2l0', 'b=2@c3m3v1l0']);
  t.same(m.range({ ...all, revision: -1 }).kvs.map(brief), ['a=3@c2m4v2l0', 'b=2@c3m3v1l0']);
});

t.test('nested txn and delete events carry prevKv; observer sees one batch per revision', async (t) => {
  const m = new MvccStore();
  const seen: string[] = [];
  m.observer = {
    onCommit: (rev, events) =>
      seen.push(
        `${rev}:${events.map((e) => `${e.type} ${s(e.kv.key)}${e.prevKv ? ` prev=${s(e.prevKv.value)}` : ''}`).join(',')}`,
      ),
  };
  m.put({ key: b('a'), value: b('1') });
  m.txn({
    compare: [],
    success: [
      {
        txn: {
          compare: [{ key: b('a'), target: 'value', result: 'equal', value: b('1') }],
          success: [{ put: { key: b('a'), value: b('2') } }],
          failure: [],
        },
      },
      { put: { key: b('b'), value: b('x') } },
    ],
    failure: [],
  });
  m.deleteRange({ key: b('a'), rangeEnd: b('c') });
  t.same(seen, ['2:put a', '3:put a prev=1,put b', '4:delete a prev=2,delete b prev=x']);
  const history = m.eventsBetween(1, 4, b('a'), new Uint8Array([0]), 100, true);
  t.same(
    history.map(
      (e) => `${e.kv.modRevision} ${e.type} ${s(e.kv.key)}${e.prevKv ? ` prev=${s(e.prevKv.value)}` : ''}`,
    ),
    ['2 put a', '3 put a prev=1', '3 put b', '4 delete a prev=2', '4 delete b prev=x'],
  );
  t.equal(
    m.eventsBetween(1, 4, b('a'), new Uint8Array([0]), 2, false).length,
    3,
    'a revision is never split',
  );
});

t.test('compaction keeps what reads at or after it can see, and frees the rest', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') }); // 2
  m.put({ key: b('a'), value: b('2') }); // 3
  m.put({ key: b('gone'), value: b('x') }); // 4
  m.deleteRange({ key: b('gone') }); // 5
  m.put({ key: b('a'), value: b('3') }); // 6
  m.drainMutations();
  m.compact(5);
  const freed = m.drainMutations().map((x) => (x.op === 'delete' ? `${x.rev.main}.${x.rev.sub}` : 'put'));
  t.same(freed.sort(), ['2.0', '4.0', '5.0']);
  t.same(m.range({ key: b('a'), revision: 5 }).kvs.map(brief), ['a=2@c2m3v2l0']);
  t.same(m.range({ key: b('a') }).kvs.map(brief), ['a=3@c2m6v3l0']);
  t.same(m.range({ key: b('gone'), revision: 5 }).kvs, []);
  t.equal(m.keyCount(), 1);
});

t.test(
  'bumpRevision: skipped revisions read as before, the next write follows, nothing is stored',
  async (t) => {
    const m = new MvccStore();
    m.put({ key: b('a'), value: b('1') }); // 2
    m.put({ key: b('b'), value: b('x') }); // 3
    m.drainMutations();
    const hashAt3 = m.hashKV(3).hash;
    m.bumpRevision(10);
    t.equal(m.currentRevision, 13);
    t.same(m.drainMutations(), [], 'no change for the backend: the caller writes the whole state');
    t.same(m.range({ key: b('a'), revision: 8 }).kvs.map(brief), ['a=1@c2m2v1l0'], 'a skipped revision');
    const all = m.range({ key: b('a'), rangeEnd: new Uint8Array([0]) });
    t.same([all.revision, all.kvs.map(brief)], [13, ['a=1@c2m2v1l0', 'b=x@c3m3v1l0']]);
    t.same(m.eventsBetween(4, 13, b('a'), new Uint8Array([0]), 10, false), [], 'no event in the gap');
    t.equal(m.hashKV(3).hash, hashAt3);
    t.same(m.hashKV(), { hash: hashAt3, revision: 13, compactRevision: -1 }, 'the gap hashes nothing');
    t.equal(m.put({ key: b('a'), value: b('2') }).revision, 14, 'the next write takes the next revision');
    t.same(m.range({ key: b('a') }).kvs.map(brief), ['a=2@c2m14v2l0']);
    m.bumpRevision(0);
    t.equal(m.currentRevision, 14, 'a bump of 0 changes nothing');
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER])
      t.throws(() => m.bumpRevision(bad), RangeError, `bump ${bad} refused`);
    t.equal(m.currentRevision, 14, 'refused bumps change nothing');

    m.bumpRevision(5); // 19
    m.compact(19);
    t.throws(() => m.range({ key: b('a'), revision: 14 }), { code: 'COMPACTED' });
    t.same(
      m.range({ key: b('a'), rangeEnd: new Uint8Array([0]), revision: 19 }).kvs.map(brief),
      ['a=2@c2m14v2l0', 'b=x@c3m3v1l0'],
      'compaction at the bumped revision keeps every live key',
    );
    const copy = new MvccStore();
    copy.restore(m.records(), m.currentRevision, m.compactRevision);
    t.same(copy.hashKV(), m.hashKV(), 'records plus the bumped revisions rebuild the same store');
    t.equal(copy.put({ key: b('c'), value: b('y') }).revision, 20);
  },
);

t.test('restore from records rebuilds the same store (after compaction too)', async (t) => {
  const m = new MvccStore();
  for (let i = 0; i < 20; i++) m.put({ key: b(`k${i % 4}`), value: b(String(i)) });
  m.deleteRange({ key: b('k1') });
  m.compact(15);
  const copy = new MvccStore();
  copy.restore(m.records(), m.currentRevision, m.compactRevision);
  t.same(copy.hashKV(), m.hashKV());
  const all = { key: b('k'), rangeEnd: b('l') };
  t.same(copy.range(all).kvs.map(brief), m.range(all).kvs.map(brief));
  t.same(
    copy.range({ ...all, revision: 15 }).kvs.map(brief),
    m.range({ ...all, revision: 15 }).kvs.map(brief),
  );
  copy.put({ key: b('k0'), value: b('next') });
  m.put({ key: b('k0'), value: b('next') });
  t.same(copy.range(all).kvs.map(brief), m.range(all).kvs.map(brief), 'versions continue after restore');
});

// ---- model-based property: random histories against a naive reference ----

type Op =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'del'; key: string; end: string | null }
  | { kind: 'cas'; key: string; expectVersion: number; value: string }
  | { kind: 'compact'; back: number }
  | { kind: 'read'; key: string; end: string | null; back: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
  fc.record({
    kind: fc.constant('del' as const),
    key: keyArb,
    end: fc.option(fc.constantFrom('b', 'c', 'e'), { nil: null }),
  }),
  fc.record({
    kind: fc.constant('cas' as const),
    key: keyArb,
    expectVersion: fc.nat(3),
    value: fc.string({ maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.nat(5) }),
  fc.record({
    kind: fc.constant('read' as const),
    key: keyArb,
    end: fc.option(fc.constantFrom('c', 'e'), { nil: null }),
    back: fc.nat(6),
  }),
);

interface ModelVersion {
  rev: number;
  value: string | null;
  create: number;
  version: number;
}

class Model {
  /** etcd's numbering: the empty store is revision 1, never compacted is -1. */
  rev = 1;
  compacted = -1;
  readonly history = new Map<string, ModelVersion[]>();
  at(key: string, rev: number): ModelVersion | null {
    const h = this.history.get(key) ?? [];
    let v: ModelVersion | null = null;
    for (const x of h) if (x.rev <= rev) v = x;
    return v === null || v.value === null ? null : v;
  }
  write(changes: [string, string | null][]): void {
    if (changes.length === 0) return;
    this.rev++;
    for (const [k, value] of changes) {
      const prev = this.at(k, this.rev - 1);
      const h = this.history.get(k) ?? [];
      h.push(
        value === null
          ? { rev: this.rev, value: null, create: 0, version: 0 }
          : { rev: this.rev, value, create: prev?.create ?? this.rev, version: (prev?.version ?? 0) + 1 },
      );
      this.history.set(k, h);
    }
  }
  keys(key: string, end: string | null, rev: number): string[] {
    return [...this.history.keys()]
      .filter((k) => (end === null ? k === key : k >= key && k < end) && this.at(k, rev) !== null)
      .sort();
  }
}

t.test('property: random histories match a naive multi-version model', async (t) => {
  checkProperty(
    t,
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const m = new MvccStore();
      const model = new Model();
      for (const op of ops) {
        if (op.kind === 'put') {
          m.put({ key: b(op.key), value: b(op.value) });
          model.write([[op.key, op.value]]);
        } else if (op.kind === 'del') {
          const r = m.deleteRange(
            op.end === null ? { key: b(op.key) } : { key: b(op.key), rangeEnd: b(op.end) },
          );
          const victims = model.keys(op.key, op.end, model.rev);
          if (r.deleted !== victims.length) return false;
          model.write(victims.map((k) => [k, null]));
        } else if (op.kind === 'cas') {
          const r = m.txn({
            compare: [{ key: b(op.key), target: 'version', result: 'equal', version: op.expectVersion }],
            success: [{ put: { key: b(op.key), value: b(op.value) } }],
            failure: [],
          });
          const ok = (model.at(op.key, model.rev)?.version ?? 0) === op.expectVersion;
          if (r.succeeded !== ok) return false;
          if (ok) model.write([[op.key, op.value]]);
        } else if (op.kind === 'compact') {
          // Any target, as etcd takes it: at or below the compact revision (which starts at -1,
          // so 0 works once on a new store) is COMPACTED, anything else up to current works.
          const target = model.rev - op.back;
          let refused = false;
          try {
            m.compact(target);
          } catch (err) {
            if (!isKvError(err, 'COMPACTED')) throw err;
            refused = true;
          }
          if (refused !== target <= model.compacted) return false;
          if (!refused) model.compacted = target;
          if (m.compactRevision !== model.compacted) return false;
        } else {
          const rev = model.rev - op.back;
          const req = {
            key: b(op.key),
            ...(op.end === null ? {} : { rangeEnd: b(op.end) }),
            revision: Math.max(rev, 0),
          };
          if (rev <= 0) continue;
          if (rev < model.compacted) {
            try {
              m.range(req);
              return false;
            } catch (err) {
              if (!isKvError(err, 'COMPACTED')) throw err;
              continue;
            }
          }
          const got = m.range(req).kvs.map(brief);
          const want = model.keys(op.key, op.end, rev).map((k) => {
            const v = model.at(k, rev)!;
            return `${k}=${v.value}@c${v.create}m${v.rev}v${v.version}l0`;
          });
          if (JSON.stringify(got) !== JSON.stringify(want)) return false;
        }
        if (m.currentRevision !== model.rev) return false;
      }
      // A store rebuilt from its records is the same store.
      const copy = new MvccStore();
      copy.restore(m.records(), m.currentRevision, m.compactRevision);
      return copy.hashKV().hash === m.hashKV().hash;
    }),
    300,
  );
});

// ---- property: every range option against a plain read, filtered, sorted and cut in the test ----

const rangeReqArb = fc.record({
  key: fc.constantFrom('a', 'b', 'c'),
  end: fc.constantFrom<string | null>(null, 'd', 'g', '\0'),
  back: fc.nat(8),
  limit: fc.integer({ min: -1, max: 4 }),
  sortOrder: fc.constantFrom<SortOrder>('none', 'ascend', 'descend'),
  sortTarget: fc.constantFrom<SortTarget>('key', 'version', 'create', 'mod', 'value'),
  keysOnly: fc.boolean(),
  minMod: fc.nat(12),
  maxMod: fc.nat(12),
  minCreate: fc.nat(12),
  maxCreate: fc.nat(12),
});

t.test(
  'property: limits, sorts, filters and keys_only equal filtering and sorting a plain read',
  async (t) => {
    checkProperty(
      t,
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              put: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
              value: fc.constantFrom('', 'x', 'y', 'z'),
            }),
            fc.record({ del: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }),
          ),
          { maxLength: 12 },
        ),
        fc.array(rangeReqArb, { minLength: 1, maxLength: 8 }),
        (writes, reads) => {
          const m = new MvccStore();
          for (const w of writes) {
            if ('put' in w) m.put({ key: b(w.put), value: b(w.value) });
            else m.deleteRange({ key: b(w.del) });
          }
          for (const r of reads) {
            const rev = Math.max(1, m.currentRevision - r.back);
            const base = {
              key: b(r.key),
              ...(r.end === null ? {} : { rangeEnd: r.end === '\0' ? new Uint8Array([0]) : b(r.end) }),
              revision: rev,
            };
            // Filters and limits half the time, so the unfiltered paths are exercised too.
            const filters = r.back % 2 === 0;
            const req = {
              ...base,
              limit: r.limit,
              sortOrder: r.sortOrder,
              sortTarget: r.sortTarget,
              keysOnly: r.keysOnly,
              ...(filters
                ? {
                    minModRevision: r.minMod,
                    maxModRevision: r.maxMod,
                    minCreateRevision: r.minCreate,
                    maxCreateRevision: r.maxCreate,
                  }
                : {}),
            };
            const plain = m.range(base);
            let want = [...plain.kvs];
            if (filters) {
              want = want.filter(
                (kv) =>
                  (r.maxMod === 0 || kv.modRevision <= r.maxMod) &&
                  (r.minMod === 0 || kv.modRevision >= r.minMod) &&
                  (r.maxCreate === 0 || kv.createRevision <= r.maxCreate) &&
                  (r.minCreate === 0 || kv.createRevision >= r.minCreate),
              );
            }
            const order = r.sortTarget !== 'key' && r.sortOrder === 'none' ? 'ascend' : r.sortOrder;
            const key = (kv: KeyValue): number | string =>
              r.sortTarget === 'version'
                ? kv.version
                : r.sortTarget === 'create'
                  ? kv.createRevision
                  : r.sortTarget === 'mod'
                    ? kv.modRevision
                    : s(r.sortTarget === 'value' ? kv.value : kv.key);
            if (order !== 'none') {
              const sign = order === 'ascend' ? 1 : -1;
              want.sort((x, y) => (key(x) < key(y) ? -sign : key(x) > key(y) ? sign : 0));
            }
            const more = r.limit > 0 && want.length > r.limit;
            if (more) want = want.slice(0, r.limit);
            const got = m.range(req);
            const shown = (kvs: readonly KeyValue[]): string[] =>
              kvs.map((kv) => brief(r.keysOnly ? { ...kv, value: new Uint8Array(0) } : kv));
            if (
              JSON.stringify(got.kvs.map(brief)) !== JSON.stringify(shown(want)) ||
              got.more !== more ||
              got.count !== plain.count ||
              got.revision !== plain.revision
            )
              return false;
            const counted = m.range({ ...req, countOnly: true });
            if (counted.count !== plain.count || counted.kvs.length !== 0) return false;
          }
          return true;
        },
      ),
      300,
    );
  },
);

t.test('compaction removes old versions in bounded steps, with the same result as all at once', async (t) => {
  const build = (): MvccStore => {
    const m = new MvccStore();
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 25; i++)
        m.put({ key: Buffer.from(`k${String(i).padStart(2, '0')}`), value: Buffer.from(`v${round}`) });
    m.deleteRange({ key: Buffer.from('k00') });
    return m;
  };
  const whole = build();
  whole.compactionBatchKeys = 1000;
  const stepped = build();
  stepped.compactionBatchKeys = 10;
  const target = whole.currentRevision - 5;
  whole.compact(target);
  t.equal(whole.compaction, null, 'one step was enough');
  const usageBefore = stepped.usageBytes;
  stepped.compact(target);
  t.same(stepped.compaction, { target, after: 'k09' }, 'ten keys visited');
  t.ok(stepped.usageBytes < usageBefore && stepped.usageBytes > whole.usageBytes, 'usage falls step by step');
  t.throws(
    () => stepped.range({ key: Buffer.from('k05'), revision: target - 1 }),
    /compacted/,
    'logically compacted at once',
  );

  // A replica restored from the half-done state continues exactly where it stopped.
  const copy = new MvccStore();
  copy.compactionBatchKeys = 10;
  copy.restore(stepped.records(), stepped.currentRevision, stepped.compactRevision, stepped.compaction);
  t.equal(stepped.compactStep(), false);
  t.equal(stepped.compactStep(), true, 'the third step reaches the end');
  t.equal(stepped.compactStep(), true, 'a surplus step changes nothing');
  while (!copy.compactStep());
  for (const m of [stepped, copy]) {
    t.same([...m.records()], [...whole.records()]);
    t.equal(m.usageBytes, whole.usageBytes);
    t.same(m.hashKV(), whole.hashKV());
    t.equal(m.compaction, null);
  }
  t.throws(
    () => copy.restore([], 1, -1, { target: 5, after: null }),
    /compaction cursor .* does not match -1/,
    'a cursor that does not match the compact revision is refused',
  );
});
