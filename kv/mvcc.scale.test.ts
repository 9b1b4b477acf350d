// Reads over 200,000 keys stay within what they answer: counts read no version at all, limits read
// exactly the kvs they return, keys-only reads no value, and a response over maxResponseBytes is
// refused with its exact encoded size. Stored versions are spies that count every read of their
// value and of their lease (which is read exactly when a version is turned into a KeyValue or sized).

import t from 'tap';
import { MvccStore } from './mvcc.js';
import type { StoredKv } from './revision-log.js';
import type { KeyValue } from './types.js';

const KEYS = 200_000;
const VALUE_BYTES = 16;
const FIRST_REVISION = 2;
const enc = new TextEncoder();
const keyName = (i: number): string => `k${String(i).padStart(6, '0')}`;
const ALL = { key: enc.encode('k'), rangeEnd: enc.encode('l') };

const reads = { value: 0, lease: 0 };

/** One put per revision from 2 on, key i at revision 2 + i; value and lease reads are counted. */
function spyRecord(i: number): StoredKv {
  const value = new Uint8Array(VALUE_BYTES).fill(97 + (i % 26));
  const rev = FIRST_REVISION + i;
  const rec = {
    key: enc.encode(keyName(i)),
    createRevision: rev,
    modRevision: rev,
    version: 1,
    tombstone: false,
    sub: 0,
  };
  return Object.defineProperties(rec, {
    value: {
      enumerable: true,
      get: () => {
        reads.value++;
        return value;
      },
    },
    lease: {
      enumerable: true,
      get: () => {
        reads.lease++;
        return 0;
      },
    },
  }) as StoredKv;
}

const store = new MvccStore();
store.restore(
  Array.from({ length: KEYS }, (_, i) => spyRecord(i)),
  FIRST_REVISION + KEYS - 1,
  -1,
);

/** Runs `read` and returns what it read of the stored versions. */
function counted<T>(read: () => T): { result: T; values: number; versions: number } {
  reads.value = 0;
  reads.lease = 0;
  const result = read();
  return { result, values: reads.value, versions: reads.lease };
}

const names = (kvs: readonly KeyValue[]): string[] => kvs.map((kv) => new TextDecoder().decode(kv.key));

t.test('count_only counts every key from the key index alone', async (t) => {
  const { result, values, versions } = counted(() => store.range({ ...ALL, countOnly: true }));
  t.strictSame(result, { revision: KEYS + 1, kvs: [], more: false, count: KEYS });
  t.equal(values, 0, 'no value read');
  t.equal(versions, 0, 'no stored version read');
  const filtered = counted(() => store.range({ ...ALL, countOnly: true, minModRevision: KEYS }));
  t.equal(filtered.result.count, KEYS, 'filters do not change count (etcd)');
  t.equal(filtered.versions, 0);
});

t.test('a limit reads exactly the kvs it returns; count still covers the range', async (t) => {
  const { result, values, versions } = counted(() => store.range({ ...ALL, limit: 10 }));
  t.strictSame(
    names(result.kvs),
    Array.from({ length: 10 }, (_, i) => keyName(i)),
  );
  t.same([result.more, result.count], [true, KEYS]);
  t.same([values, versions], [10, 10]);
  const filtered = counted(() => store.range({ ...ALL, limit: 3, minModRevision: FIRST_REVISION + 500 }));
  t.strictSame(names(filtered.result.kvs), [keyName(500), keyName(501), keyName(502)]);
  t.same([filtered.result.more, filtered.result.count], [true, KEYS]);
  t.same([filtered.values, filtered.versions], [3, 3], 'the filter is judged on the key index');
});

t.test('keys_only reads no value, with or without a limit', async (t) => {
  const limited = counted(() => store.range({ ...ALL, keysOnly: true, limit: 10 }));
  t.equal(limited.result.kvs.length, 10);
  t.ok(
    limited.result.kvs.every((kv) => kv.value.length === 0),
    'values are empty',
  );
  t.same([limited.values, limited.versions], [0, 10]);
  const all = counted(() => store.range({ ...ALL, keysOnly: true }));
  t.equal(all.result.kvs.length, KEYS);
  t.equal(all.values, 0);
});

t.test('a sorted read with a limit holds the best few and reads only their values', async (t) => {
  const { result, values } = counted(() =>
    store.range({ ...ALL, sortOrder: 'descend', sortTarget: 'mod', limit: 5 }),
  );
  t.strictSame(
    names(result.kvs),
    [1, 2, 3, 4, 5].map((d) => keyName(KEYS - d)),
  );
  t.same([result.more, result.count], [true, KEYS]);
  t.equal(values, 5);
  const byValue = counted(() => store.range({ ...ALL, sortTarget: 'value', keysOnly: true, limit: 2 }));
  t.strictSame(names(byValue.result.kvs), [keyName(0), keyName(26)], "value 'a', ties in key order");
  t.equal(byValue.values, KEYS, 'sorting by value must read every value');
  t.ok(
    byValue.result.kvs.every((kv) => kv.value.length === 0),
    'and still sends none',
  );
});

/** The encoded size of the whole range (kv/wire-size.ts, recomputed here from protobuf's rules). */
function fullRangeBytes(): number {
  let bytes = 46 + 1 + 3; // header at its largest; count 200,000 (3-byte varint); more is false
  for (let i = 0; i < KEYS; i++) {
    const rev = FIRST_REVISION + i;
    const revBytes = rev < 128 ? 1 : rev < 16_384 ? 2 : 3;
    // key (1 + 1 + 7), create and mod (1 + revBytes each), version 1 (2), value (1 + 1 + 16).
    const kv = 9 + 2 * (1 + revBytes) + 2 + 18;
    bytes += 1 + 1 + kv;
  }
  return bytes;
}

t.test('maxResponseBytes: the whole range fits at its exact size, not a byte less', async (t) => {
  const exact = fullRangeBytes();
  t.equal(store.range(ALL, { maxResponseBytes: exact }).kvs.length, KEYS);
  t.throws(() => store.range(ALL, { maxResponseBytes: exact - 1 }), {
    code: 'RESPONSE_TOO_LARGE',
    message: `grpc: trying to send message larger than max: (${exact} vs. ${exact - 1})`,
  });
  const small = counted(() => {
    try {
      return store.range(ALL, { maxResponseBytes: 1024 * 1024 });
    } catch (err) {
      return err;
    }
  });
  t.match(small.result, { code: 'RESPONSE_TOO_LARGE', message: `(${exact} vs. 1048576)` });
  t.equal(store.range({ ...ALL, limit: 100 }, { maxResponseBytes: 1024 * 1024 }).kvs.length, 100);
  t.throws(() => store.range({ ...ALL, keysOnly: true, sortOrder: 'descend' }, { maxResponseBytes: 4096 }), {
    code: 'RESPONSE_TOO_LARGE',
  });
});
