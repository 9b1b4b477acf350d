// Conversions between the decoded wire messages (64-bit integers as decimal strings, bytes as
// Buffer; see server/proto/etcd.ts) and the client's types: revisions and counts as exact
// numbers, lease and member ids as bigint (etcd's are random 63-bit values), keys and values as
// Buffer.

import { NetcdError } from './errors.js';

export type Bytes = string | Uint8Array;
export type WireInt = string | number | null | undefined;

export function toBuffer(value: Bytes): Buffer {
  return typeof value === 'string'
    ? Buffer.from(value)
    : Buffer.from(value.buffer, value.byteOffset, value.length);
}

/** A revision, count or version: exact, or an error rather than a rounded number. */
export function toNumber(value: WireInt): number {
  if (value === null || value === undefined || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n))
    throw new NetcdError('OUT_OF_RANGE', `integer ${value} cannot be represented exactly`, 'unknown');
  return n;
}

export function toId(value: WireInt): bigint {
  if (value === null || value === undefined || value === '') return 0n;
  return BigInt(value);
}

/** bigint ids go on the wire as decimal strings (the loader accepts them for 64-bit fields). */
export function idOut(id: bigint | number | string): string {
  return BigInt(id).toString();
}

export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly revision: number;
  readonly raftTerm: number;
}

export interface WireHeader {
  readonly cluster_id?: WireInt;
  readonly member_id?: WireInt;
  readonly revision?: WireInt;
  readonly raft_term?: WireInt;
}

export function header(h: WireHeader | null | undefined): ResponseHeader {
  return {
    clusterId: toId(h?.cluster_id),
    memberId: toId(h?.member_id),
    revision: toNumber(h?.revision),
    raftTerm: toNumber(h?.raft_term),
  };
}

export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: bigint;
}

export interface WireKeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly create_revision: WireInt;
  readonly mod_revision: WireInt;
  readonly version: WireInt;
  readonly lease: WireInt;
}

export function keyValue(kv: WireKeyValue): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: toNumber(kv.create_revision),
    modRevision: toNumber(kv.mod_revision),
    version: toNumber(kv.version),
    lease: toId(kv.lease),
  };
}

/** The end of the range holding every key that starts with `prefix` (etcd's convention). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All bytes 0xff (or empty): every key from the prefix on.
  return Buffer.from([0]);
}
