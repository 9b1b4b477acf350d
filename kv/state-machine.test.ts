// The state machine applies the replicated log deterministically: same entries → same results,
// same snapshot bytes and same hash, also on a member restored from a snapshot half-way. Also the
// quota alarm, lease revocation in one revision, and replay skipping.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { LeaseTable } from './lease/lessor.js';
import { encodeEnvelope, type KvRequest } from './request.js';
import { type ApplyResult, KvStateMachine } from './state-machine.js';

const FILE = 'kv/state-machine.test.ts';
const checkProperty = propertyChecker(FILE);
const b = (s: string): Uint8Array => new TextEncoder().encode(s);

function machine(quotaBytes?: number): KvStateMachine {
  const leases = (snap: Uint8Array | null) =>
    snap === null ? new LeaseTable({ minTtlSeconds: 1 }) : LeaseTable.restore(snap, { minTtlSeconds: 1 });
  const m = new KvStateMachine(leases, quotaBytes === undefined ? {} : { quotaBytes });
  // One key per compaction step, so the property sees compactions left half done.
  m.store.compactionBatchKeys = 1;
  return m;
}

let seq = 0;
function entry(request: KvRequest): Uint8Array {
  return encodeEnvelope({ requestId: `r${seq++}`, request });
}

function restoreFrom(from: KvStateMachine): KvStateMachine {
  const fresh = machine();
  fresh.restore(from.snapshot());
  return fresh;
}

const reqArb: fc.Arbitrary<KvRequest> = fc.oneof(
  fc
    .record({
      k: fc.constantFrom('a', 'b', 'c', 'd'),
      v: fc.string({ maxLength: 4 }),
      lease: fc.constantFrom(0, 0, 1, 2),
    })
    .map(({ k, v, lease }) => ({ put: { key: b(k), value: b(v), lease } })),
  fc
    .record({ k: fc.constantFrom('a', 'b'), end: fc.constantFrom('c', 'e') })
    .map(({ k, end }) => ({ deleteRange: { key: b(k), rangeEnd: b(end) } })),
  fc
    .record({ k: fc.constantFrom('a', 'b', 'c'), ver: fc.nat(3), v: fc.string({ maxLength: 3 }) })
    .map(({ k, ver, v }) => ({
      txn: {
        compare: [{ key: b(k), target: 'version' as const, result: 'equal' as const, version: ver }],
        success: [{ put: { key: b(k), value: b(v) } }],
        failure: [{ range: { key: b(k) } }],
      },
    })),
  fc.nat(6).map((back) => ({ compaction: { revision: back } })),
  fc.constant({ compactStep: {} }),
  fc.constantFrom(1, 2, 3).map((id) => ({ leaseGrant: { id, ttlSeconds: 10 } })),
  fc.constantFrom(1, 2, 3).map((id) => ({ leaseRevoke: { id } })),
  fc.constantFrom(1, 2).map((id) => ({ leaseCheckpoint: { checkpoints: [{ id, remainingMs: 4000 }] } })),
);

t.test('property: replicas (and a replica restored mid-way) stay byte-identical', async (t) => {
  checkProperty(
    t,
    fc.property(fc.array(reqArb, { minLength: 1, maxLength: 50 }), fc.nat(50), (reqs, cut) => {
      const entries = reqs.map((r) => {
        // Compaction targets a past revision relative to the moment it is applied: resolved lazily below.
        return r;
      });
      const a = machine();
      const c = machine();
      let d: KvStateMachine | null = null;
      const split = cut % entries.length;
      const resultsA: string[] = [];
      const resultsC: string[] = [];
      entries.forEach((r, i) => {
        const req: KvRequest =
          'compaction' in r
            ? { compaction: { revision: Math.max(1, a.store.currentRevision - r.compaction.revision) } }
            : r;
        const data = entry(req);
        if (i === split) d = restoreFrom(a);
        resultsA.push(stripId(a.apply(i + 1, data)));
        resultsC.push(stripId(c.apply(i + 1, data)));
        if (d !== null) (d as KvStateMachine).apply(i + 1, data);
      });
      const snapA = Buffer.from(a.snapshot());
      const same =
        snapA.equals(Buffer.from(c.snapshot())) &&
        a.hash() === c.hash() &&
        JSON.stringify(resultsA) === JSON.stringify(resultsC);
      const dm = d as KvStateMachine | null;
      const restoredSame =
        dm === null || (snapA.equals(Buffer.from(dm.snapshot())) && dm.hash() === a.hash());
      return same && restoredSame;
    }),
    200,
  );
});

function stripId(r: ApplyResult | null): string {
  if (r === null) return 'null';
  const { requestId: _, ...rest } = r;
  return JSON.stringify(rest, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

t.test('entries at or below the applied index are skipped on replay', async (t) => {
  const m = machine();
  t.ok(m.apply(1, entry({ put: { key: b('k'), value: b('1') } }))?.ok);
  t.equal(m.apply(1, entry({ put: { key: b('k'), value: b('2') } })), null);
  t.equal(m.store.currentRevision, 2, 'one write: revision 2, the one after the empty store');
  t.equal(m.appliedIndex, 1);
  t.equal(m.apply(2, new Uint8Array(0)), null, 'empty entries (leader no-ops) only move the index');
  t.equal(m.appliedIndex, 2);
  const bad = m.apply(3, b('not msgpack at all \u00ff'));
  t.equal(bad?.ok, false);
});

t.test('errors are results, identical on every member', async (t) => {
  const m = machine();
  const r = m.apply(1, entry({ put: { key: b('k'), value: b('v'), lease: 42 } }));
  t.same(r && !r.ok ? [r.code, r.message] : null, ['LEASE_NOT_FOUND', 'requested lease not found']);
  const c = m.apply(2, entry({ compaction: { revision: 5 } }));
  t.same(c && !c.ok ? c.code : null, 'FUTURE_REV');
  const many = Array.from({ length: 129 }, (_, i) => ({ put: { key: b(`k${i}`), value: b('v') } }));
  const x = m.apply(3, entry({ txn: { compare: [], success: many, failure: [] } }));
  t.same(x && !x.ok ? x.code : null, 'TOO_MANY_OPS');
});

t.test('revoking a lease deletes its keys in one revision', async (t) => {
  const m = machine();
  m.apply(1, entry({ leaseGrant: { id: 7, ttlSeconds: 30 } }));
  m.apply(2, entry({ put: { key: b('x'), value: b('1'), lease: 7 } }));
  m.apply(3, entry({ put: { key: b('y'), value: b('2'), lease: 7 } }));
  m.apply(4, entry({ put: { key: b('z'), value: b('3') } }));
  const before = m.store.currentRevision;
  const r = m.apply(5, entry({ leaseRevoke: { id: 7 } }));
  t.ok(r?.ok);
  t.equal(m.store.currentRevision, before + 1, 'one revision for all keys');
  t.same(
    m.store
      .range({ key: b('a'), rangeEnd: new Uint8Array([0]) })
      .kvs.map((kv) => new TextDecoder().decode(kv.key)),
    ['z'],
  );
  const again = m.apply(6, entry({ leaseRevoke: { id: 7 } }));
  t.same(again && !again.ok ? again.code : null, 'LEASE_NOT_FOUND');
  m.apply(7, entry({ leaseGrant: { id: 8, ttlSeconds: 30 } }));
  m.apply(8, entry({ put: { key: b('w'), value: b('4'), lease: 8 } }));
  const expired = m.apply(9, entry({ leaseExpire: { ids: [7, 8] } }));
  t.same(
    expired?.ok ? expired.response : null,
    { leaseExpire: { revoked: [8], revision: m.store.currentRevision } },
    'leases already gone are skipped',
  );
  t.same(m.store.range({ key: b('w') }).kvs, []);
});

t.test('quota: NOSPACE blocks puts but not deletes, and clears itself after compaction', async (t) => {
  const m = machine(2000);
  let i = 1;
  let full = false;
  for (; i < 100 && !full; i++) {
    const r = m.apply(i, entry({ put: { key: b('big'), value: new Uint8Array(300) } }));
    full = m.activeAlarms().some((a) => a.alarm === 'NOSPACE');
    t.ok(r?.ok, 'the put that crosses the quota still succeeds');
  }
  t.ok(full, 'alarm raised');
  const refused = m.apply(i++, entry({ put: { key: b('more'), value: b('x') } }));
  t.ok(refused && !refused.ok && refused.code === 'NO_SPACE');
  t.match(
    refused && !refused.ok ? refused.message : '',
    /^mvcc: database space exceeded: usage \d+ bytes, quota 2000 bytes/,
  );
  const grant = m.apply(i++, entry({ leaseGrant: { id: 1, ttlSeconds: 10 } }));
  t.ok(grant && !grant.ok && grant.code === 'NO_SPACE');
  t.ok(m.apply(i++, entry({ deleteRange: { key: b('nothing') } }))?.ok, 'deletes still work');
  const compacted = m.apply(i++, entry({ compaction: { revision: m.store.currentRevision } }));
  t.ok(compacted?.ok);
  t.same(m.activeAlarms(), [], 'alarm cleared below the low watermark');
  t.ok(m.apply(i++, entry({ put: { key: b('more'), value: b('x') } }))?.ok, 'writes work again');
});

t.test('alarm activate and deactivate', async (t) => {
  const m = machine();
  m.apply(1, entry({ alarm: { action: 'activate', memberId: 3, alarm: 'NOSPACE' } }));
  t.same(m.activeAlarms(), [{ memberId: 3, alarm: 'NOSPACE' }]);
  const r = m.apply(2, entry({ put: { key: b('k'), value: b('v') } }));
  t.ok(r && !r.ok && r.code === 'NO_SPACE');
  m.apply(3, entry({ alarm: { action: 'deactivate', memberId: 3, alarm: 'NOSPACE' } }));
  t.same(m.activeAlarms(), []);
});

t.test('alarms survive a restart from the backend commit', async (t) => {
  const m = machine();
  m.apply(1, entry({ alarm: { action: 'activate', memberId: 5, alarm: 'NOSPACE' } }));
  const c = m.takeCommit();
  t.ok(c.alarms !== undefined, 'changed alarms are part of the commit');
  t.equal(m.takeCommit().alarms, undefined, 'unchanged alarms are not written again');
  const restarted = machine();
  restarted.load({
    records: [...m.store.records()],
    applied: c.applied,
    currentRevision: c.currentRevision,
    compactRevision: c.compactRevision,
    compaction: c.compaction,
    leases: null,
    alarms: c.alarms ?? null,
    members: null,
  });
  t.same(restarted.activeAlarms(), [{ memberId: 5, alarm: 'NOSPACE' }]);
  const r = restarted.apply(2, entry({ put: { key: b('k'), value: b('v') } }));
  t.ok(r && !r.ok && r.code === 'NO_SPACE', 'writes stay refused after the restart');
});

/** A machine with history, a compaction, a lease with a key, an alarm and a removed member. */
function oldCluster(): KvStateMachine {
  const m = machine();
  m.bootstrapMembers(9, [
    { id: 1, name: 'old', peerURLs: ['http://10.0.0.1:2380'], clientURLs: [], isLearner: false },
  ]);
  let i = 1;
  m.apply(i++, entry({ put: { key: b('a'), value: b('1') } })); // 2
  m.apply(i++, entry({ put: { key: b('a'), value: b('2') } })); // 3
  m.apply(i++, entry({ put: { key: b('gone'), value: b('x') } })); // 4
  m.apply(i++, entry({ deleteRange: { key: b('gone') } })); // 5
  m.apply(i++, entry({ compaction: { revision: 3 } }));
  m.apply(i++, entry({ leaseGrant: { id: 7, ttlSeconds: 30 } }));
  m.apply(i++, entry({ put: { key: b('held'), value: b('h'), lease: 7 } })); // 6
  m.apply(i++, entry({ leaseCheckpoint: { checkpoints: [{ id: 7, remainingMs: 1234 }] } }));
  m.apply(i++, entry({ alarm: { action: 'activate', memberId: 1, alarm: 'CORRUPT' } }));
  // Member id 256 encodes as 0xcd 0x01 0x00: the snapshot's last byte is then a zero.
  m.applyMembership(i++, { kind: 'remove', id: 256 });
  return m;
}

const newMembers = [
  { id: 11, name: 'n1', peerURLs: ['http://127.0.0.1:1'], clientURLs: [], isLearner: false },
  { id: 12, name: 'n2', peerURLs: ['http://127.0.0.1:2'], clientURLs: [], isLearner: false },
];

t.test('restore with zeroPadded decodes the snapshot and accepts only zero bytes after it', async (t) => {
  const old = oldCluster();
  const snap = old.snapshot();
  t.equal(snap[snap.length - 1], 0, 'this snapshot itself ends with a zero byte');
  const padded = new Uint8Array(snap.length + 300);
  padded.set(snap);
  const m = machine();
  m.restore(padded, { zeroPadded: true });
  t.same(Buffer.from(m.snapshot()), Buffer.from(snap), 'the same state, its own trailing zero kept');
  t.equal(m.hash(), old.hash());

  const stripped = snap.subarray(0, snap.length - 1);
  t.throws(() => machine().restore(stripped, { zeroPadded: true }), 'stripping zeros blindly would break it');
  const dirty = Uint8Array.from(padded);
  dirty[snap.length + 100] = 1;
  t.throws(
    () => machine().restore(dirty, { zeroPadded: true }),
    { code: 'CORRUPT', message: /non-zero byte 100 bytes after its end/ },
    'anything but zeros after the snapshot is refused',
  );
  t.throws(() => machine().restore(padded), 'without zeroPadded the padding is refused');
  t.throws(
    () => machine().restore(new Uint8Array(512), { zeroPadded: true }),
    { code: 'CORRUPT', message: /not a netcd state machine snapshot/ },
    'all zeros decode as the number 0: not a snapshot',
  );
  // {v: 2} in msgpack.
  const v2 = Uint8Array.from([0x81, 0xa1, 0x76, 0x02]);
  t.throws(() => machine().restore(v2), { code: 'CORRUPT', message: /unsupported snapshot version 2/ });
});

t.test('startNewCluster: keys and leases stay, membership is new, revisions move on', async (t) => {
  const old = oldCluster();
  t.equal(old.store.currentRevision, 6);
  const m = restoreFrom(old);
  m.startNewCluster({ clusterId: 99, members: newMembers, bumpRevision: 1000, markCompacted: true });
  t.equal(m.store.currentRevision, 1006);
  t.equal(m.store.compactRevision, 1006, 'everything up to the new revision is compacted');
  t.throws(() => m.store.range({ key: b('a'), revision: 6 }), { code: 'COMPACTED' });
  t.same(
    m.store
      .range({ key: b('a'), rangeEnd: new Uint8Array([0]) })
      .kvs.map((kv) => [
        new TextDecoder().decode(kv.key),
        new TextDecoder().decode(kv.value),
        kv.modRevision,
        kv.version,
        kv.lease,
      ]),
    [
      ['a', '2', 3, 2, 0],
      ['held', 'h', 6, 1, 7],
    ],
    'live keys keep their values, revisions, versions and leases',
  );
  t.same(
    [...(m.leases as LeaseTable).entries()],
    [{ id: 7, ttlSeconds: 30, remainingMs: 30_000, keyCount: 1 }],
  );
  t.same(m.activeAlarms(), [], "the old members' alarms are gone");
  t.equal(m.members.clusterId, 99);
  t.same(m.members.list(), newMembers);
  t.equal(m.members.isRemoved(256), false, 'the old removed ids are forgotten');
  t.equal(m.appliedIndex, 0);
  t.equal(m.apply(1, entry({ put: { key: b('a'), value: b('3') } }))?.ok, true);
  t.equal(m.store.currentRevision, 1007, 'the next write follows the bumped revision');

  const twin = restoreFrom(old);
  twin.startNewCluster({ clusterId: 99, members: newMembers, bumpRevision: 1000, markCompacted: true });
  const again = restoreFrom(old);
  again.startNewCluster({
    clusterId: 99,
    members: [...newMembers].reverse(),
    bumpRevision: 1000,
    markCompacted: true,
  });
  t.same(
    Buffer.from(again.snapshot()),
    Buffer.from(twin.snapshot()),
    'byte-identical, whatever the member order',
  );
  t.equal(again.hash(), twin.hash());
});

t.test('startNewCluster with bumpRevision 0 and markCompacted false keeps the revisions', async (t) => {
  const old = oldCluster();
  const m = restoreFrom(old);
  m.startNewCluster({ clusterId: 99, members: newMembers, bumpRevision: 0, markCompacted: false });
  t.equal(m.store.currentRevision, 6);
  t.equal(m.store.compactRevision, 3, "the snapshot's own compaction");
  t.same(m.store.hashKV(), old.store.hashKV(), 'the same history');
  t.equal(m.store.range({ key: b('a'), revision: 3 }).kvs[0]?.version, 2, 'old revisions still read');
  const compactedOnly = restoreFrom(old);
  compactedOnly.startNewCluster({ clusterId: 99, members: newMembers, bumpRevision: 0, markCompacted: true });
  t.same([compactedOnly.store.currentRevision, compactedOnly.store.compactRevision], [6, 6]);
  t.throws(
    () =>
      restoreFrom(old).startNewCluster({
        clusterId: 99,
        members: newMembers,
        bumpRevision: -1,
        markCompacted: true,
      }),
    RangeError,
  );
});
