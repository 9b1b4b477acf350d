// Proves the replicated lease table follows etcd's lessor rules (grant checks and their order, min
// TTL, key attachment moving between leases, revoke returning sorted keys) and is deterministic:
// any op sequence gives byte-identical snapshots on two tables, or on one restored midway.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { isKvError, type KvErrorCode } from '../errors.js';
import type { LeaseHooks } from '../mvcc.js';
import { kvErrorCodeOf } from '../testing/error-code.js';
import { LeaseTable, MAX_LEASE_TTL_SECONDS, minTtlSecondsFor } from './lessor.js';

const FILE = 'kv/lease/lessor.test.ts';
const checkProperty = propertyChecker(FILE);

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const codeOf = kvErrorCodeOf;

t.test('the table is what the MVCC store expects of leases', async (t) => {
  const hooks: LeaseHooks = new LeaseTable();
  t.equal(hooks.has(1), false);
});

t.test('minTtlSecondsFor is etcd minLeaseTTL: 3/2 election timeouts in heartbeats, rounded up', async (t) => {
  t.equal(minTtlSecondsFor(1000, 100), 2, 'etcd defaults: 15 ticks * 100 ms = 1.5 s → 2 s');
  t.equal(minTtlSecondsFor(500, 100), 1, '7 ticks * 100 ms = 0.7 s → 1 s');
  t.equal(minTtlSecondsFor(5000, 250), 8, '30 ticks * 250 ms = 7.5 s → 8 s');
  t.throws(() => minTtlSecondsFor(100, 0));
});

t.test('grant raises a TTL below the minimum and keeps larger ones', async (t) => {
  const table = new LeaseTable({ minTtlSeconds: 5 });
  t.same(table.grant(1, 1), { id: 1, ttlSeconds: 5, remainingMs: 5000, keyCount: 0 });
  t.same(table.grant(2, -3), { id: 2, ttlSeconds: 5, remainingMs: 5000, keyCount: 0 });
  t.same(table.grant(3, 60), { id: 3, ttlSeconds: 60, remainingMs: 60_000, keyCount: 0 });
  t.same(
    table.grant(4, MAX_LEASE_TTL_SECONDS).ttlSeconds,
    MAX_LEASE_TTL_SECONDS,
    'the maximum itself is fine',
  );
  t.equal(new LeaseTable().minTtlSeconds, 2, 'default matches etcd with its default timeouts');
  t.throws(() => new LeaseTable({ minTtlSeconds: 0 }), RangeError);
});

t.test('grant errors come in etcd order: NoLease, then TTL too large, then exists', async (t) => {
  const table = new LeaseTable();
  table.grant(7, 10);
  t.equal(
    codeOf(() => table.grant(0, MAX_LEASE_TTL_SECONDS + 1)),
    'LEASE_NOT_FOUND',
  );
  t.equal(
    codeOf(() => table.grant(7, MAX_LEASE_TTL_SECONDS + 1)),
    'LEASE_TTL_TOO_LARGE',
  );
  t.equal(
    codeOf(() => table.grant(7, 10)),
    'LEASE_EXISTS',
  );
  t.equal(
    codeOf(() => table.grant(-1, 10)),
    'BAD_REQUEST',
  );
  t.equal(
    codeOf(() => table.grant(1.5, 10)),
    'BAD_REQUEST',
  );
  t.equal(
    codeOf(() => table.grant(2 ** 53, 10)),
    'BAD_REQUEST',
    'ids stay exact numbers',
  );
  t.equal(
    codeOf(() => table.grant(8, 2.5)),
    'BAD_REQUEST',
  );
  t.equal(table.size, 1, 'failed grants change nothing');
});

t.test('revoke returns the attached keys in byte order and forgets them', async (t) => {
  const table = new LeaseTable();
  table.grant(1, 10);
  table.grant(2, 10);
  for (const k of ['b', 'a', '\u00ff', 'a\u0000']) table.attach(1, enc(k));
  table.attach(2, enc('z'));
  const keys = table.revoke(1);
  t.same(
    keys.map((k) => hex(k)),
    ['61', '6100', '62', 'c3bf'],
    'byte order, not insertion order',
  );
  t.equal(table.has(1), false);
  t.equal(table.leaseOf(enc('a')), 0, 'revoked keys point at no lease');
  t.equal(table.detach(1, enc('a')), false, "the store's detach after a revoke is a no-op");
  t.equal(table.leaseOf(enc('z')), 2, 'other leases keep their keys');
  t.equal(
    codeOf(() => table.revoke(1)),
    'LEASE_NOT_FOUND',
  );
  t.equal(
    codeOf(() => table.revoke(0)),
    'LEASE_NOT_FOUND',
  );
});

t.test('a key belongs to one lease: attaching it to another moves it', async (t) => {
  const table = new LeaseTable();
  table.grant(1, 10);
  table.grant(2, 10);
  table.attach(1, enc('k'));
  table.attach(1, enc('k'));
  t.equal(table.get(1)?.keyCount, 1, 'attaching twice is one attachment');
  table.attach(2, enc('k'));
  t.equal(table.leaseOf(enc('k')), 2);
  t.same(table.keys(1), []);
  t.same(table.keys(2).map(dec), ['k']);
  t.equal(table.detach(1, enc('k')), false, 'detaching from the wrong lease changes nothing');
  t.equal(table.leaseOf(enc('k')), 2);
  t.equal(table.detach(2, enc('k')), true);
  t.equal(table.leaseOf(enc('k')), 0);
  t.equal(
    codeOf(() => table.attach(3, enc('k'))),
    'LEASE_NOT_FOUND',
  );
});

t.test('checkpoints record the remaining TTL; renewals restore the full TTL', async (t) => {
  const table = new LeaseTable();
  table.grant(1, 10);
  t.equal(table.checkpoint(1, 4000), true);
  t.equal(table.get(1)?.remainingMs, 4000);
  t.equal(table.checkpoint(99, 4000), false, 'a lease revoked since the proposal is skipped');
  t.equal(
    codeOf(() => table.checkpoint(1, 10_001)),
    'BAD_REQUEST',
    'never beyond the granted TTL',
  );
  t.equal(
    codeOf(() => table.checkpoint(1, -1)),
    'BAD_REQUEST',
  );
  t.equal(
    codeOf(() => table.checkpoint(1, 0.5)),
    'BAD_REQUEST',
  );
  t.equal(table.get(1)?.remainingMs, 4000, 'refused checkpoints change nothing');
  t.equal(table.renewed(1), true);
  t.equal(table.get(1)?.remainingMs, 10_000);
  t.equal(table.renewed(99), false);
});

t.test('renewAll puts every lease back to its full TTL, keys and order unchanged', async (t) => {
  const table = new LeaseTable();
  table.grant(1, 10);
  table.grant(2, 30);
  table.attach(2, enc('k'));
  table.checkpoint(1, 4000);
  table.checkpoint(2, 1);
  table.renewAll();
  t.same(
    [...table.entries()].sort((a, b) => a.id - b.id),
    [
      { id: 1, ttlSeconds: 10, remainingMs: 10_000, keyCount: 0 },
      { id: 2, ttlSeconds: 30, remainingMs: 30_000, keyCount: 1 },
    ],
  );
  const fresh = new LeaseTable();
  fresh.grant(1, 10);
  fresh.grant(2, 30);
  fresh.attach(2, enc('k'));
  t.same(table.snapshot(), fresh.snapshot(), 'the same bytes as leases just granted');
});

t.test('a checkpoint entry is applied whole or not at all', async (t) => {
  const table = new LeaseTable();
  table.grant(1, 10);
  table.grant(2, 10);
  t.equal(
    codeOf(() =>
      table.applyCheckpoints([
        { id: 1, remainingMs: 1 },
        { id: 2, remainingMs: -5 },
      ]),
    ),
    'BAD_REQUEST',
  );
  t.equal(table.get(1)?.remainingMs, 10_000, 'the valid item before the bad one was not applied');
  t.equal(
    table.applyCheckpoints([
      { id: 1, remainingMs: 1 },
      { id: 3, remainingMs: 1 },
      { id: 2, remainingMs: 2 },
    ]),
    2,
  );
  t.same([table.get(1)?.remainingMs, table.get(2)?.remainingMs], [1, 2]);
});

t.test('timeToLive, get and list report the replicated state', async (t) => {
  const table = new LeaseTable();
  table.grant(30, 10);
  table.grant(4, 20);
  table.attach(30, enc('y'));
  table.attach(30, enc('x'));
  table.checkpoint(30, 2500);
  t.same(table.list(), [4, 30], 'ascending ids');
  t.same(table.get(30), { id: 30, ttlSeconds: 10, remainingMs: 2500, keyCount: 2 });
  t.equal(table.get(5), undefined);
  const ttl = table.timeToLive(30, { keys: true });
  t.same(
    { ...ttl, keys: ttl.keys.map(dec) },
    { id: 30, grantedTtlSeconds: 10, remainingMs: 2500, keys: ['x', 'y'] },
  );
  t.same(table.timeToLive(30).keys, [], 'keys only when asked for');
  t.equal(
    codeOf(() => table.timeToLive(5)),
    'LEASE_NOT_FOUND',
  );
  t.same(
    [...table.entries()].map((l) => l.id).sort((a, b) => a - b),
    [4, 30],
  );
});

t.test('the snapshot encoding is pinned byte for byte', async (t) => {
  const table = new LeaseTable();
  table.grant(2 ** 32 + 1, 10);
  table.checkpoint(2 ** 32 + 1, 7000);
  table.grant(1, 5);
  table.attach(1, enc('b'));
  table.attach(1, enc('a'));
  t.equal(
    hex(table.snapshot()),
    [
      '4e4c5401',
      '00000002',
      '0000000000000001',
      '0000000000000005',
      '0000000000001388',
      '00000002',
      '0000000161',
      '0000000162',
      '0000000100000001',
      '000000000000000a',
      '0000000000001b58',
      '00000000',
    ].join(''),
  );
  t.equal(hex(new LeaseTable().snapshot()), '4e4c540100000000', 'empty table');
});

t.test('equal states give equal bytes and hashes whatever the order of the ops', async (t) => {
  const a = new LeaseTable();
  a.grant(1, 10);
  a.grant(2, 10);
  a.attach(1, enc('x'));
  a.attach(1, enc('w'));
  const b = new LeaseTable();
  b.grant(2, 10);
  b.grant(1, 10);
  b.attach(1, enc('w'));
  b.attach(2, enc('x'));
  b.attach(1, enc('x'));
  t.same(a.snapshot(), b.snapshot());
  t.equal(a.hash(), b.hash());
  b.checkpoint(2, 9999);
  t.not(a.hash(), b.hash(), 'a checkpoint is part of the state');
});

t.test('restore rebuilds the table and refuses malformed bytes', async (t) => {
  const table = new LeaseTable();
  table.grant(3, 10);
  table.grant(9, 20);
  table.attach(3, enc('k1'));
  table.attach(9, enc('k2'));
  const bytes = table.snapshot();
  const restored = LeaseTable.restore(bytes, { minTtlSeconds: 7 });
  t.same(restored.snapshot(), bytes);
  t.equal(restored.leaseOf(enc('k2')), 9, 'key ownership is rebuilt');
  t.equal(restored.minTtlSeconds, 7, 'the minimum TTL is configuration, not state');

  const corrupt = (b: Uint8Array): KvErrorCode | 'ok' => codeOf(() => LeaseTable.restore(b));
  const edit = (at: number, value: number): Uint8Array => {
    const copy = Uint8Array.from(bytes);
    copy[at] = value;
    return copy;
  };
  t.equal(corrupt(bytes.subarray(0, bytes.length - 1)), 'CORRUPT', 'truncated');
  t.equal(corrupt(Uint8Array.from([...bytes, 0])), 'CORRUPT', 'trailing bytes');
  t.equal(corrupt(edit(0, 0)), 'CORRUPT', 'magic');
  t.equal(corrupt(edit(3, 2)), 'CORRUPT', 'version');
  // Second lease starts after header 8 + lease 28 + key 4 + 2 = 42; its id's last byte is at 49.
  t.equal(corrupt(edit(49, 3)), 'CORRUPT', 'ids not ascending');
  const twice = Uint8Array.from(bytes);
  twice.set(enc('k1'), bytes.length - 2);
  t.equal(corrupt(twice), 'CORRUPT', 'one key on two leases');
  t.equal(corrupt(edit(8 + 16 + 4, 0xff)), 'CORRUPT', 'remaining beyond the TTL');
  t.equal(corrupt(edit(8 + 8 + 7, 0)), 'CORRUPT', 'zero TTL');
});

// ---- property: determinism ----

type Op =
  | { readonly op: 'grant'; readonly id: number; readonly ttl: number }
  | { readonly op: 'revoke'; readonly id: number }
  | { readonly op: 'attach'; readonly id: number; readonly key: number }
  | { readonly op: 'detach'; readonly id: number; readonly key: number }
  | { readonly op: 'checkpoint'; readonly id: number; readonly remainingMs: number }
  | { readonly op: 'checkpoints'; readonly items: readonly { id: number; remainingMs: number }[] }
  | { readonly op: 'renewed'; readonly id: number };

const KEYS = ['a', 'b', 'a\u0000', '\u0000', '\u00ff\u00fe', 'zz'].map((k) =>
  Uint8Array.from(k, (c) => c.charCodeAt(0)),
);
const leaseId = fc.integer({ min: 0, max: 4 });
const remaining = fc.oneof(fc.integer({ min: 0, max: 12_000 }), fc.constant(-1));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('grant' as const),
    id: leaseId,
    ttl: fc.constantFrom(-1, 0, 1, 3, 10, MAX_LEASE_TTL_SECONDS, MAX_LEASE_TTL_SECONDS + 1),
  }),
  fc.record({ op: fc.constant('revoke' as const), id: leaseId }),
  fc.record({ op: fc.constant('attach' as const), id: leaseId, key: fc.nat(KEYS.length - 1) }),
  fc.record({ op: fc.constant('attach' as const), id: leaseId, key: fc.nat(KEYS.length - 1) }),
  fc.record({ op: fc.constant('detach' as const), id: leaseId, key: fc.nat(KEYS.length - 1) }),
  fc.record({ op: fc.constant('checkpoint' as const), id: leaseId, remainingMs: remaining }),
  fc.record({
    op: fc.constant('checkpoints' as const),
    items: fc.array(fc.record({ id: leaseId, remainingMs: remaining }), { maxLength: 3 }),
  }),
  fc.record({ op: fc.constant('renewed' as const), id: leaseId }),
);

/** Applies one op; the outcome (result or error code) must be the same on every member. */
function apply(table: LeaseTable, op: Op): string {
  try {
    switch (op.op) {
      case 'grant':
        return JSON.stringify(table.grant(op.id, op.ttl));
      case 'revoke': {
        const keys = table.revoke(op.id);
        for (let i = 1; i < keys.length; i++)
          if (Buffer.compare(keys[i - 1]!, keys[i]!) >= 0) throw new Error('revoked keys not in byte order');
        return keys.map(hex).join(',');
      }
      case 'attach':
        table.attach(op.id, KEYS[op.key]!);
        return 'ok';
      case 'detach':
        return String(table.detach(op.id, KEYS[op.key]!));
      case 'checkpoint':
        return String(table.checkpoint(op.id, op.remainingMs));
      case 'checkpoints':
        return String(table.applyCheckpoints(op.items));
      case 'renewed':
        return String(table.renewed(op.id));
    }
  } catch (err) {
    if (isKvError(err)) return err.code;
    throw err;
  }
}

t.test('property: any op sequence gives byte-identical snapshots, also after a restore midway', async (t) => {
  checkProperty(
    t,
    fc.property(fc.array(opArb, { maxLength: 80, size: 'max' }), fc.nat(), (ops, cut) => {
      const a = new LeaseTable({ minTtlSeconds: 2 });
      const b = new LeaseTable({ minTtlSeconds: 2 });
      const at = ops.length === 0 ? 0 : cut % (ops.length + 1);
      let c: LeaseTable | undefined;
      for (const [i, op] of ops.entries()) {
        if (i === at) c = LeaseTable.restore(a.snapshot(), { minTtlSeconds: 2 });
        const outcome = apply(a, op);
        if (apply(b, op) !== outcome) throw new Error(`op ${i} ${JSON.stringify(op)} diverged`);
        if (c !== undefined && apply(c, op) !== outcome) throw new Error(`op ${i} diverged after restore`);
      }
      c ??= LeaseTable.restore(a.snapshot(), { minTtlSeconds: 2 });
      const bytes = a.snapshot();
      if (Buffer.compare(bytes, b.snapshot()) !== 0) throw new Error('two tables diverged');
      if (Buffer.compare(bytes, c.snapshot()) !== 0) throw new Error('restored table diverged');
      // restore validates every invariant (one owner per key, remaining within TTL, sorted ids).
      if (Buffer.compare(bytes, LeaseTable.restore(bytes).snapshot()) !== 0) throw new Error('round trip');
      for (const k of KEYS) {
        const owner = a.leaseOf(k);
        if (owner !== 0 && !a.keys(owner).some((x) => Buffer.compare(x, k) === 0))
          throw new Error('key owner does not list the key');
      }
    }),
    500,
  );
});
