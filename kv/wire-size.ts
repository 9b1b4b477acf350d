// Encoded sizes of kv responses as etcd's protobuf messages (mvccpb.KeyValue, RangeResponse), so a
// read can be refused before it is built when its response would exceed the gRPC send limit.
// Exact for the fields kv knows; the response header, filled in by the server, is counted at its
// largest, so a response that passes the bound here also passes it on the wire.

import type { KeyValue } from './types.js';

/** etcd 3.4's gRPC send limit (math.MaxInt32): the default bound on one response. */
export const DEFAULT_MAX_RESPONSE_BYTES = 2 ** 31 - 1;

/**
 * ResponseHeader {cluster_id, member_id, revision, raft_term} at its largest: four 64-bit varints of
 * 10 bytes with a tag each, plus the field's own tag and length.
 */
export const RESPONSE_HEADER_MAX_BYTES = 2 + 4 * 11;

/** Bytes of a protobuf varint holding `n` (a negative int64 takes 10, as two's complement). */
export function varintBytes(n: number): number {
  if (n < 0) return 10;
  let bytes = 1;
  // Division, not shifts: revisions and lease ids go past 32 bits.
  for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) bytes++;
  return bytes;
}

/** A scalar field with a one-byte tag; proto3 leaves zeros out. */
function intField(n: number): number {
  return n === 0 ? 0 : 1 + varintBytes(n);
}

/** A length-delimited field with a one-byte tag; proto3 leaves empty ones out. */
function bytesField(length: number): number {
  return length === 0 ? 0 : 1 + varintBytes(length) + length;
}

/** mvccpb.KeyValue's encoded size, for a value of `valueLength` bytes. */
export function keyValueBytes(kv: Omit<KeyValue, 'value'>, valueLength: number): number {
  return (
    bytesField(kv.key.length) +
    intField(kv.createRevision) +
    intField(kv.modRevision) +
    intField(kv.version) +
    bytesField(valueLength) +
    intField(kv.lease)
  );
}

/** One KeyValue as an element of RangeResponse.kvs (field 2): tag, length, message. */
export function rangeEntryBytes(kvBytes: number): number {
  return 1 + varintBytes(kvBytes) + kvBytes;
}

/** RangeResponse without its kvs: the header at its largest, `more` and `count`. */
export function rangeEnvelopeBytes(more: boolean, count: number): number {
  return RESPONSE_HEADER_MAX_BYTES + (more ? 2 : 0) + intField(count);
}
