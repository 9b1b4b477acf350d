// 64-bit integers from the wire (decimal strings, see proto.ts) to exact JavaScript numbers.
// netcd keeps revisions, lease and member ids below 2^53; a value outside that range is refused
// with INVALID_ARGUMENT rather than rounded, so no request ever acts on a different number.

import { ServerError } from '../api.js';

/** What the loader hands over for an int64/uint64 field (a string; numbers from hand-built objects). */
export type WireInt64 = string | number;

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;

function parse(value: WireInt64 | null | undefined, field: string): bigint {
  if (value === null || value === undefined || value === '') return 0n;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw outOfRange(field, String(value));
    return BigInt(value);
  }
  if (!/^-?\d+$/.test(value)) throw new ServerError('INVALID_ARGUMENT', `${field}: not an integer: ${value}`);
  return BigInt(value);
}

function outOfRange(field: string, value: string): ServerError {
  return new ServerError(
    'INVALID_ARGUMENT',
    `${field}: ${value} is outside the integers this server handles exactly (|n| <= ${Number.MAX_SAFE_INTEGER})`,
  );
}

/** A signed field: any exact integer, negative included. */
export function int64(value: WireInt64 | null | undefined, field: string): number {
  const n = parse(value, field);
  if (n > MAX || n < MIN) throw outOfRange(field, String(value));
  return Number(n);
}

/** A field that must not be negative (ids, counts, TTLs). */
export function nonNegative(value: WireInt64 | null | undefined, field: string): number {
  const n = int64(value, field);
  if (n < 0) throw new ServerError('INVALID_ARGUMENT', `${field}: must not be negative: ${n}`);
  return n;
}

/** A uint64 field: the loader already gives it unsigned; only the exact range is checked. */
export function uint64(value: WireInt64 | null | undefined, field: string): number {
  return nonNegative(value, field);
}
