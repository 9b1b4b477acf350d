// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record.
// Slicing-by-8 tables: eight bytes per step, so checksumming stays far below an fsync's cost.

const POLYNOMIAL = 0x82f63b78;
const TABLE_COUNT = 8;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes. */
const TABLES: readonly Uint32Array[] = (() => {
  const tables = Array.from({ length: TABLE_COUNT }, () => new Uint32Array(256));
  const t0 = tables[0]!;
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    t0[b] = c >>> 0;
  }
  for (let k = 1; k < TABLE_COUNT; k++) {
    const prev = tables[k - 1]!;
    const cur = tables[k]!;
    for (let b = 0; b < 256; b++) cur[b] = (prev[b]! >>> 8) ^ t0[prev[b]! & 0xff]!;
  }
  return tables;
})();

/**
 * Continues a CRC-32C over `bytes[start, end)`; pass the previous result as `crc` to checksum
 * discontiguous pieces as one stream (0 to start).
 */
export function crc32c(bytes: Uint8Array, crc = 0, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ t0[(c ^ bytes[i]!) & 0xff]!;
  return ~c >>> 0;
}
