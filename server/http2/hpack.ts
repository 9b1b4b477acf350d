// HPACK (RFC 7541): a decoder that follows a peer's dynamic table, and an encoder that either never
// touches the peer's table ('none': every block stands alone, so the peer's table stays empty) or
// adds to it like an ordinary encoder ('incremental'). Strings are latin1 JavaScript strings, one
// character per octet, so any octet sequence survives a decode/encode round trip unchanged.

import { Http2Error } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** Sent "never indexed" (§6.2.3); whoever forwards it must keep that representation. */
  readonly neverIndexed: boolean;
}

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2), also Node's http2 default. */
export const DEFAULT_TABLE_SIZE_BYTES = 4096;
/** Per-entry overhead counted in table and header list sizes (RFC 7541 §4.1, RFC 9113 §6.5.2). */
export const ENTRY_OVERHEAD_BYTES = 32;
const DEFAULT_MAX_HEADER_LIST_BYTES = 256 * 1024;
/** Larger integers are refused; no index, length or table size comes near it. */
const MAX_INTEGER = 2 ** 31 - 1;

/** RFC 7541 Appendix A; index i + 1 is STATIC_TABLE[i]. */
export const STATIC_TABLE: readonly (readonly [name: string, value: string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

interface StaticName {
  /** The lowest index with this name. */
  readonly index: number;
  /** Index of each value listed with this name. */
  readonly values: ReadonlyMap<string, number>;
}

const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const byName = new Map<string, { index: number; values: Map<string, number> }>();
  STATIC_TABLE.forEach(([name, value], i) => {
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { index: i + 1, values: new Map() };
      byName.set(name, entry);
    }
    entry.values.set(value, i + 1);
  });
  return byName;
})();

/**
 * The dynamic table of one direction of one connection (§2.3.2): newest entry at index 1, oldest
 * evicted first, size counted as name + value + 32 octets per entry.
 */
export class DynamicTable {
  /** Oldest first, so adding is a push. */
  private readonly entries: (readonly [name: string, value: string])[] = [];
  private size = 0;
  private maxSize: number;

  constructor(maxSizeBytes: number) {
    this.maxSize = maxSizeBytes;
  }

  get length(): number {
    return this.entries.length;
  }

  get sizeBytes(): number {
    return this.size;
  }

  get maxSizeBytes(): number {
    return this.maxSize;
  }

  /** The entry at dynamic index `index` (1 = newest), or undefined past the end. */
  get(index: number): readonly [name: string, value: string] | undefined {
    return this.entries[this.entries.length - index];
  }

  /** Dynamic index (1 = newest) of the newest entry with this name, and of this exact field if any. */
  find(name: string, value: string): { nameIndex: number; fieldIndex: number } {
    let nameIndex = 0;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i];
      if (entry === undefined || entry[0] !== name) continue;
      const index = this.entries.length - i;
      if (nameIndex === 0) nameIndex = index;
      if (entry[1] === value) return { nameIndex, fieldIndex: index };
    }
    return { nameIndex, fieldIndex: 0 };
  }

  /** Adds a field, evicting the oldest entries to make room; one larger than the table empties it (§4.4). */
  add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD_BYTES;
    this.evictTo(this.maxSize - entrySize);
    if (entrySize <= this.maxSize) {
      this.entries.push([name, value]);
      this.size += entrySize;
    }
  }

  /** Applies a new maximum size, evicting entries that no longer fit (§4.3). */
  resize(maxSizeBytes: number): void {
    this.maxSize = maxSizeBytes;
    this.evictTo(maxSizeBytes);
  }

  /** Entries newest first, as [name, value]; for tests and diagnostics. */
  snapshot(): (readonly [name: string, value: string])[] {
    return [...this.entries].reverse();
  }

  private evictTo(targetBytes: number): void {
    while (this.size > Math.max(targetBytes, 0)) {
      const oldest = this.entries.shift();
      if (oldest === undefined) break;
      this.size -= oldest[0].length + oldest[1].length + ENTRY_OVERHEAD_BYTES;
    }
  }
}

export interface HpackDecoderOptions {
  /**
   * The largest dynamic table the encoder may switch to with a size update: the
   * SETTINGS_HEADER_TABLE_SIZE the decoding side advertised. Default 4096 (the protocol default).
   */
  readonly maxTableSizeLimitBytes?: number;
  /** Bound on one decoded header list, fields counted as name + value + 32. Default 256 KiB. */
  readonly maxHeaderListBytes?: number;
}

/** Decodes the header blocks of one direction of one connection, in order, keeping its dynamic table. */
export class HpackDecoder {
  readonly table: DynamicTable;
  private readonly maxTableSizeLimit: number;
  private readonly maxHeaderListBytes: number;
  private block: Buffer = Buffer.alloc(0);
  private position = 0;

  constructor(options: HpackDecoderOptions = {}) {
    this.maxTableSizeLimit = options.maxTableSizeLimitBytes ?? DEFAULT_TABLE_SIZE_BYTES;
    this.maxHeaderListBytes = options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST_BYTES;
    this.table = new DynamicTable(Math.min(DEFAULT_TABLE_SIZE_BYTES, this.maxTableSizeLimit));
  }

  /** The header list of one complete header block. Throws Http2Error; the connection is then unusable. */
  decode(block: Uint8Array): HeaderField[] {
    this.block = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.length);
    this.position = 0;
    const fields: HeaderField[] = [];
    let listBytes = 0;
    while (this.position < this.block.length) {
      const first = this.block[this.position] ?? 0;
      let field: HeaderField;
      if (first & 0x80) {
        // Indexed header field (§6.1).
        const [name, value] = this.entryAt(this.readInteger(7));
        field = { name, value, neverIndexed: false };
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        field = this.readLiteral(6, false);
        this.table.add(field.name, field.value);
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3): only before the block's first field.
        const sizeBytes = this.readInteger(5);
        if (fields.length > 0) throw new Http2Error('BAD_TABLE_SIZE_UPDATE', 'after a header field');
        if (sizeBytes > this.maxTableSizeLimit)
          throw new Http2Error('BAD_TABLE_SIZE_UPDATE', `${sizeBytes} > ${this.maxTableSizeLimit}`);
        this.table.resize(sizeBytes);
        continue;
      } else {
        // Literal without indexing (0000xxxx, §6.2.2) or never indexed (0001xxxx, §6.2.3).
        field = this.readLiteral(4, (first & 0x10) !== 0);
      }
      listBytes += field.name.length + field.value.length + ENTRY_OVERHEAD_BYTES;
      if (listBytes > this.maxHeaderListBytes)
        throw new Http2Error('HEADER_LIST_TOO_LARGE', `over ${this.maxHeaderListBytes} bytes`);
      fields.push(field);
    }
    this.block = Buffer.alloc(0);
    return fields;
  }

  private entryAt(index: number): readonly [name: string, value: string] {
    if (index === 0) throw new Http2Error('BAD_INDEX', 'index 0');
    const entry =
      index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.table.get(index - STATIC_TABLE.length);
    if (entry === undefined)
      throw new Http2Error('BAD_INDEX', `${index} past ${STATIC_TABLE.length + this.table.length}`);
    return entry;
  }

  private readLiteral(prefixBits: number, neverIndexed: boolean): HeaderField {
    const nameIndex = this.readInteger(prefixBits);
    const name = nameIndex === 0 ? this.readString() : this.entryAt(nameIndex)[0];
    return { name, value: this.readString(), neverIndexed };
  }

  /** An integer with an N-bit prefix (§5.1), starting at the current byte. */
  private readInteger(prefixBits: number): number {
    const block = this.block;
    const limit = (1 << prefixBits) - 1;
    let value = (block[this.position++] ?? 0) & limit;
    if (value < limit) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.position >= block.length) throw new Http2Error('BAD_INTEGER', 'truncated');
      const byte = block[this.position++] ?? 0;
      value += (byte & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new Http2Error('BAD_INTEGER', 'too large');
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** A string literal (§5.2): Huffman flag, length, octets. */
  private readString(): string {
    if (this.position >= this.block.length) throw new Http2Error('BAD_STRING', 'missing');
    const huffman = ((this.block[this.position] ?? 0) & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.position;
    const end = start + length;
    if (end > this.block.length)
      throw new Http2Error('BAD_STRING', `${length} bytes, ${this.block.length - start} left`);
    this.position = end;
    return huffman
      ? huffmanDecode(this.block, start, end).toString('latin1')
      : this.block.toString('latin1', start, end);
  }
}

export interface HpackEncoderOptions {
  /**
   * 'none' (default): fields are written as static-table references or literals that are not
   * indexed, so the peer's dynamic table is never used and each block decodes on its own.
   * 'incremental': every field not found whole in a table is added to the peer's dynamic table.
   */
  readonly indexing?: 'none' | 'incremental';
  /** Huffman-code string literals: 'never' (default), 'shorter' when it saves octets, or 'always'. */
  readonly huffman?: 'never' | 'shorter' | 'always';
  /** The dynamic table size the peer allows, for 'incremental'. Default 4096. */
  readonly tableSizeBytes?: number;
}

/** Encodes header lists for one direction of one connection. */
export class HpackEncoder {
  readonly table: DynamicTable;
  private readonly indexing: 'none' | 'incremental';
  private readonly huffman: 'never' | 'shorter' | 'always';
  /** Size updates to announce at the start of the next block (§4.2). */
  private pendingSizeUpdates: number[] = [];
  private out: Buffer = Buffer.allocUnsafe(256);
  private length = 0;

  constructor(options: HpackEncoderOptions = {}) {
    this.indexing = options.indexing ?? 'none';
    this.huffman = options.huffman ?? 'never';
    this.table = new DynamicTable(options.tableSizeBytes ?? DEFAULT_TABLE_SIZE_BYTES);
  }

  /** Changes the dynamic table size; the next block starts with the size update. */
  resizeTable(sizeBytes: number): void {
    this.table.resize(sizeBytes);
    this.pendingSizeUpdates.push(sizeBytes);
  }

  encode(fields: readonly HeaderField[]): Buffer {
    this.length = 0;
    for (const sizeBytes of this.pendingSizeUpdates) this.writeInteger(0x20, 5, sizeBytes);
    this.pendingSizeUpdates = [];
    for (const field of fields) this.writeField(field);
    return Buffer.from(this.out.subarray(0, this.length));
  }

  private writeField({ name, value, neverIndexed }: HeaderField): void {
    const staticName = STATIC_BY_NAME.get(name);
    const staticFieldIndex = staticName?.values.get(value) ?? 0;
    let nameIndex = staticName?.index ?? 0;
    if (!neverIndexed && staticFieldIndex !== 0) {
      this.writeInteger(0x80, 7, staticFieldIndex);
      return;
    }
    if (this.indexing === 'incremental') {
      const dynamic = this.table.find(name, value);
      if (!neverIndexed && dynamic.fieldIndex !== 0) {
        this.writeInteger(0x80, 7, STATIC_TABLE.length + dynamic.fieldIndex);
        return;
      }
      if (nameIndex === 0 && dynamic.nameIndex !== 0) nameIndex = STATIC_TABLE.length + dynamic.nameIndex;
      if (!neverIndexed) {
        this.writeLiteral(0x40, 6, nameIndex, name, value);
        this.table.add(name, value);
        return;
      }
    }
    this.writeLiteral(neverIndexed ? 0x10 : 0x00, 4, nameIndex, name, value);
  }

  private writeLiteral(
    pattern: number,
    prefixBits: number,
    nameIndex: number,
    name: string,
    value: string,
  ): void {
    this.writeInteger(pattern, prefixBits, nameIndex);
    if (nameIndex === 0) this.writeString(name);
    this.writeString(value);
  }

  private writeInteger(pattern: number, prefixBits: number, value: number): void {
    this.reserve(6);
    const limit = (1 << prefixBits) - 1;
    if (value < limit) {
      this.out[this.length++] = pattern | value;
      return;
    }
    this.out[this.length++] = pattern | limit;
    let rest = value - limit;
    while (rest >= 0x80) {
      this.out[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.out[this.length++] = rest;
  }

  private writeString(text: string): void {
    if (this.huffman !== 'never') {
      const octets = Buffer.from(text, 'latin1');
      const huffmanLength = huffmanEncodedLength(octets);
      if (this.huffman === 'always' || huffmanLength < octets.length) {
        this.writeInteger(0x80, 7, huffmanLength);
        this.reserve(huffmanLength);
        this.length += huffmanEncode(octets).copy(this.out, this.length);
        return;
      }
    }
    this.writeInteger(0x00, 7, text.length);
    this.reserve(text.length);
    this.length += this.out.write(text, this.length, 'latin1');
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.length + bytes));
    this.out.copy(grown, 0, 0, this.length);
    this.out = grown;
  }
}
