// Encoded sizes against protobuf's wire format, byte by byte: varint lengths at their boundaries,
// a KeyValue laid out field by field, zero fields left out, and the header counted at its largest.

import t from 'tap';
import {
  keyValueBytes,
  RESPONSE_HEADER_MAX_BYTES,
  rangeEntryBytes,
  rangeEnvelopeBytes,
  varintBytes,
} from './wire-size.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('varints: 7 bits a byte, negative int64 in 10 bytes', async (t) => {
  const cases: [number, number][] = [
    [0, 1],
    [127, 1],
    [128, 2],
    [16_383, 2],
    [16_384, 3],
    [2 ** 35 - 1, 5],
    [2 ** 35, 6],
    [2 ** 53, 8],
    [-1, 10],
  ];
  t.strictSame(
    cases.map(([n]) => [n, varintBytes(n)]),
    cases,
  );
});

t.test('a KeyValue field by field, zeros left out', async (t) => {
  // 0a 01 'a' | 10 02 | 18 02 | 20 01 | 2a 01 'x'  (lease 0: absent)
  const kv = { key: b('a'), createRevision: 2, modRevision: 2, version: 1, lease: 0 };
  t.equal(keyValueBytes(kv, 1), 12);
  t.equal(keyValueBytes(kv, 0), 9, 'keys only: no value field at all');
  // + 30 <lease varint>: 2^40 takes 6 bytes; a 200-byte value has a 2-byte length.
  t.equal(keyValueBytes({ ...kv, lease: 2 ** 40 }, 200), 9 + 1 + 2 + 200 + 1 + 6);
  // A deletion event's kv: key and mod revision only.
  t.equal(keyValueBytes({ key: b('a'), createRevision: 0, modRevision: 3, version: 0, lease: 0 }, 0), 5);
});

t.test(
  'range entries and the envelope: tag and length, more, count, the header at its largest',
  async (t) => {
    t.equal(rangeEntryBytes(12), 14);
    t.equal(rangeEntryBytes(200), 203);
    t.equal(RESPONSE_HEADER_MAX_BYTES, 46);
    t.equal(rangeEnvelopeBytes(false, 0), 46);
    t.equal(rangeEnvelopeBytes(true, 300), 46 + 2 + 3);
  },
);
