// Key bytes as ordered strings and etcd's range-end conventions. A key is mapped to a latin1
// string (one char per byte), so JavaScript string order is exactly byte order.

import type { Bytes } from './types.js';

export function keyString(key: Bytes): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function keyBytes(s: string): Bytes {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** A key interval: [start, end), end null = the single key start, end '' with `toEnd` = no bound. */
export interface KeyInterval {
  readonly start: string;
  readonly end: string | null;
  readonly toEnd: boolean;
}

/** etcd's convention: no range end = the key alone; "\0" = every key >= key; else [key, rangeEnd). */
export function keyInterval(key: Bytes, rangeEnd: Bytes | undefined): KeyInterval {
  const start = keyString(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start, end: null, toEnd: false };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: '', toEnd: true };
  return { start, end: keyString(rangeEnd), toEnd: false };
}

export function inInterval(k: string, iv: KeyInterval): boolean {
  if (iv.end === null) return k === iv.start;
  if (k < iv.start) return false;
  return iv.toEnd || k < iv.end;
}

/** Whether two intervals share at least one key. */
export function intervalsOverlap(a: KeyInterval, b: KeyInterval): boolean {
  const aHigh = a.end === null ? null : a.toEnd ? undefined : a.end;
  const bHigh = b.end === null ? null : b.toEnd ? undefined : b.end;
  // Lowest key strictly above each interval (undefined = unbounded; null = single key).
  const below = (k: string, start: string, high: string | null | undefined): boolean =>
    high === null ? k === start : k >= start && (high === undefined || k < high);
  return below(a.start, b.start, bHigh) || below(b.start, a.start, aHigh);
}

/** The smallest key greater than every key with this prefix ("\0" when none exists), etcd's prefix end. */
export function prefixEnd(prefix: Bytes): Bytes {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.slice(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

export function bytesCompare(a: Bytes, b: Bytes): number {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}
