// The MVCC store against etcd's semantics: revisions, versions, generations, range options,
// txn compares and atomicity, compaction, and a model-based property test over random histories.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { isKvError } from './errors.js';
import { type LeaseHooks, MvccStore } from './mvcc.js';
import { validateTxn } from './txn-validate.js';
import type { KeyValue, RequestOp, ResponseOp, TxnRequest, TxnResponse } from './types.js';

const FILE = 'kv/mvcc.test.ts';
const checkProperty = propertyChecker(FILE);
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const s = (u: Uint8Array): string => new TextDecoder().decode(u);
const brief = (kv: KeyValue): string =>
  `${s(kv.key)}=${s(kv.value)}@c${kv.createRevision}m${kv.modRevision}v${kv.version}l${kv.lease}`;

t.test('put creates revisions, versions and create revisions like etcd', async (t) => {
  const m = new MvccStore();
  t.equal(m.currentRevision, 0);
  t.equal(m.put({ key: b('a'), value: b('1') }).revision, 1);
  t.equal(m.put({ key: b('a'), value: b('2'), prevKv: true }).prevKv?.value.toString(), b('1').toString());
  t.equal(m.put({ key: b('b'), value: b('x') }).revision, 3);
  const r = m.range({ key: b('a'), rangeEnd: new Uint8Array([0]) });
  t.same(r.kvs.map(brief), ['a=2@c1m2v2l0', 'b=x@c3m3v1l0']);
  t.equal(r.count, 2);
  t.equal(r.revision, 3);
  // History reads see the past exactly.
  t.same(m.range({ key: b('a'), revision: 1 }).kvs.map(brief), ['a=1@c1m1v1l0']);
  t.same(m.range({ key: b('b'), revision: 2 }).kvs, []);
});

t.test('delete starts a new generation: create revision and version restart', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('k'), value: b('1') });
  m.put({ key: b('k'), value: b('2') });
  const d = m.deleteRange({ key: b('k'), prevKv: true });
  t.equal(d.deleted, 1);
  t.equal(d.revision, 3);
  t.same(d.prevKvs.map(brief), ['k=2@c1m2v2l0']);
  t.same(m.range({ key: b('k') }).kvs, []);
  t.same(m.range({ key: b('k'), revision: 2 }).kvs.map(brief), ['k=2@c1m2v2l0']);
  m.put({ key: b('k'), value: b('3') });
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=3@c4m4v1l0']);
  // Deleting nothing creates no revision.
  t.equal(m.deleteRange({ key: b('zzz') }).deleted, 0);
  t.equal(m.currentRevision, 4);
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
    m.range({ ...all, minModRevision: 3 }).kvs.map((kv) => s(kv.key)),
    ['b', 'c'],
  );
  t.same(
    m.range({ ...all, maxCreateRevision: 2 }).kvs.map((kv) => s(kv.key)),
    ['a', 'b'],
  );
  const filtered = m.range({ ...all, minModRevision: 3, limit: 1 });
  t.equal(filtered.count, 3, 'count ignores filters, like etcd');
  t.equal(filtered.more, true);
});

t.test('errors: compacted, future revision, empty key, ignore flags on a missing key', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  m.put({ key: b('a'), value: b('2') });
  m.put({ key: b('a'), value: b('3') });
  t.throws(() => m.range({ key: b('a'), revision: 9 }), {
    code: 'FUTURE_REV',
    message: 'mvcc: required revision is a future revision',
  });
  m.compact(2);
  t.throws(() => m.range({ key: b('a'), revision: 1 }), {
    code: 'COMPACTED',
    message: 'mvcc: required revision has been compacted',
  });
  t.same(
    m.range({ key: b('a'), revision: 2 }).kvs.map(brief),
    ['a=2@c1m2v2l0'],
    'the compact revision itself stays readable',
  );
  t.throws(() => m.compact(2), { code: 'COMPACTED' });
  t.throws(() => m.compact(10), { code: 'FUTURE_REV' });
  t.throws(() => m.range({ key: new Uint8Array(0) }), { code: 'EMPTY_KEY' });
  t.throws(() => m.put({ key: b('nope'), value: new Uint8Array(0), ignoreValue: true }), {
    code: 'KEY_NOT_FOUND',
  });
  t.throws(() => m.put({ key: b('a'), value: b('x'), lease: 5 }), { code: 'LEASE_NOT_FOUND' });
  t.equal(m.currentRevision, 3, 'failed writes create no revision');
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
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=v1@c1m2v2l7']);
  m.put({ key: b('k'), value: b('v3') });
  t.same(m.range({ key: b('k') }).kvs.map(brief), ['k=v3@c1m3v3l0']);
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
      { key: b('y'), target: 'create', result: 'greater', createRevision: 1 },
      { key: b('y'), target: 'mod', result: 'less', modRevision: 3 },
      { key: b('x'), target: 'lease', result: 'equal', lease: 0 },
      { key: b('missing'), target: 'version', result: 'equal', version: 0 },
      { key: b('x'), rangeEnd: b('z'), target: 'version', result: 'equal', version: 1 },
    ],
    success: [{ put: { key: b('x'), value: b('10') } }, { range: { key: b('x') } }],
    failure: [],
  });
  t.equal(ok.succeeded, true);
  t.equal(ok.revision, 3);
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
  t.equal(fail.revision, 3, 'a read-only branch creates no revision');
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
  t.equal(m.currentRevision, 2);
  t.same(m.range({ key: b('a'), rangeEnd: new Uint8Array([0]) }).kvs.map(brief), [
    'a=1@c1m1v1l0',
    'b=x@c2m2v1l0',
  ]);
  t.same(m.hashKV(), before);
  t.same(
    m.drainMutations().map((x) => (x.op === 'put' ? x.record.modRevision : -1)),
    [1, 2],
    'no mutation of the failed txn reaches the backend',
  );
  t.equal(m.put({ key: b('a'), value: b('ok') }).revision, 3, 'the next write takes the next revision');
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
    t.same(read !== undefined && 'range' in read ? read.range.kvs.map(brief) : null, ['a=2@c1m2v2l0']);

    m.put({ key: b('a'), value: b('3') });
    m.compact(3);
    const txn = (...success: RequestOp[]): TxnResponse => m.txn({ compare: [], success, failure: [] });
    t.throws(
      () => txn({ range: { key: b('a'), revision: 1 } }, { put: { key: b('c'), value: b('x'), lease: 99 } }),
      { code: 'LEASE_NOT_FOUND' },
      "puts are checked before ranges, whatever the ops' order",
    );
    t.throws(
      () => txn({ put: { key: b('c'), value: b('x') } }, { range: { key: b('a'), revision: 4 } }),
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
    t.equal(m.currentRevision, 3);
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
  t.same(r.responses.map(revisionOf), [1, 1, 2, 2, 0], 'before the first write: the old revision');
  const nested = r.responses[4];
  t.same(nested !== undefined && 'txn' in nested ? nested.txn.responses.map(revisionOf) : null, [2]);
  t.equal(r.revision, 2);
});

t.test('range: a negative limit is no limit, a negative revision reads the current one (etcd)', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') });
  m.put({ key: b('b'), value: b('2') });
  m.put({ key: b('a'), value: b('3') });
  m.compact(2);
  const all = { key: b('a'), rangeEnd: new Uint8Array([0]) };
  t.same(m.range({ ...all, limit: -1 }).kvs.map(brief), ['a=3@c1m3v2l0', 'b=2@c2m2v1l0']);
  t.same(m.range({ ...all, revision: -1 }).kvs.map(brief), ['a=3@c1m3v2l0', 'b=2@c2m2v1l0']);
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
  t.same(seen, ['1:put a', '2:put a prev=1,put b', '3:delete a prev=2,delete b prev=x']);
  const history = m.eventsBetween(1, 3, b('a'), new Uint8Array([0]), 100, true);
  t.same(
    history.map(
      (e) => `${e.kv.modRevision} ${e.type} ${s(e.kv.key)}${e.prevKv ? ` prev=${s(e.prevKv.value)}` : ''}`,
    ),
    ['1 put a', '2 put a prev=1', '2 put b', '3 delete a prev=2', '3 delete b prev=x'],
  );
  t.equal(
    m.eventsBetween(1, 3, b('a'), new Uint8Array([0]), 2, false).length,
    3,
    'a revision is never split',
  );
});

t.test('compaction keeps what reads at or after it can see, and frees the rest', async (t) => {
  const m = new MvccStore();
  m.put({ key: b('a'), value: b('1') }); // 1
  m.put({ key: b('a'), value: b('2') }); // 2
  m.put({ key: b('gone'), value: b('x') }); // 3
  m.deleteRange({ key: b('gone') }); // 4
  m.put({ key: b('a'), value: b('3') }); // 5
  m.drainMutations();
  m.compact(4);
  const freed = m.drainMutations().map((x) => (x.op === 'delete' ? `${x.rev.main}.${x.rev.sub}` : 'put'));
  t.same(freed.sort(), ['1.0', '3.0', '4.0']);
  t.same(m.range({ key: b('a'), revision: 4 }).kvs.map(brief), ['a=2@c1m2v2l0']);
  t.same(m.range({ key: b('a') }).kvs.map(brief), ['a=3@c1m5v3l0']);
  t.same(m.range({ key: b('gone'), revision: 4 }).kvs, []);
  t.equal(m.keyCount(), 1);
});

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
  rev = 0;
  compacted = 0;
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
          const target = model.rev - op.back;
          if (target > model.compacted && target >= 1) {
            m.compact(target);
            model.compacted = target;
          }
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
