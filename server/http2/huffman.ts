// HPACK's static Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical, so the table of
// code lengths alone fixes every code; decoding walks a precomputed 4-bit state machine over the
// code tree, which also rejects EOS inside a string and padding that is not a short run of 1s.

import { Http2Error } from './errors.js';

/** Code length in bits of each symbol 0..255 and of EOS (256), RFC 7541 Appendix B. */
// biome-ignore format: the table keeps the RFC's 16-per-row layout
const CODE_LENGTHS_BITS = Uint8Array.from([
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]);

const EOS = 256;
const SYMBOL_COUNT = 257;
/** A code tree with 257 leaves has 256 internal nodes; node 0 is the root. */
const INTERNAL_NODE_COUNT = SYMBOL_COUNT - 1;
/** Padding is the most significant bits of EOS (all 1s), at most 7 of them (§5.2). */
const MAX_PADDING_BITS = 7;

/** The canonical codes: shorter codes first, equal lengths in symbol order. */
const CODES: Uint32Array = (() => {
  const codes = new Uint32Array(SYMBOL_COUNT);
  const order = Array.from({ length: SYMBOL_COUNT }, (_, s) => s).sort(
    (a, b) => lengthOf(a) - lengthOf(b) || a - b,
  );
  let code = 0;
  let previousLength = lengthOf(order[0] ?? 0);
  for (const symbol of order) {
    code *= 2 ** (lengthOf(symbol) - previousLength);
    previousLength = lengthOf(symbol);
    codes[symbol] = code;
    code++;
  }
  return codes;
})();

function lengthOf(symbol: number): number {
  const bits = CODE_LENGTHS_BITS[symbol];
  if (bits === undefined) throw new RangeError(`no Huffman symbol ${symbol}`);
  return bits;
}

/** The code of `symbol` (0..256) and its length in bits, as the RFC's table lists them. */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  return { code: CODES[symbol] ?? 0, bits: lengthOf(symbol) };
}

// The decoder's state machine. A state is an internal node of the code tree; each 4-bit input moves
// to a new state and emits at most one symbol (no code is shorter than 5 bits).
const EMITS = 0x100;
const FAILS = 0x200;
const SYMBOL_SHIFT = 10;
const STATE_MASK = 0xff;

const { transitions: TRANSITIONS, accepting: ACCEPTING } = (() => {
  // children[2 * node + bit]: a positive internal node id, or -(symbol + 1) for a leaf.
  const children = new Int32Array(2 * INTERNAL_NODE_COUNT);
  const acceptingNodes = new Uint8Array(INTERNAL_NODE_COUNT);
  acceptingNodes[0] = 1;
  let nodeCount = 1;
  for (let symbol = 0; symbol < SYMBOL_COUNT; symbol++) {
    const bits = lengthOf(symbol);
    const code = CODES[symbol] ?? 0;
    let node = 0;
    let allOnes = true;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      allOnes &&= bit === 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        if (children[slot] !== 0) throw new Error(`Huffman table is not a prefix code at ${symbol}`);
        children[slot] = -(symbol + 1);
      } else {
        let child = children[slot] ?? 0;
        if (child < 0) throw new Error(`Huffman table is not a prefix code at ${symbol}`);
        if (child === 0) {
          child = nodeCount++;
          children[slot] = child;
          if (allOnes && bits - i <= MAX_PADDING_BITS) acceptingNodes[child] = 1;
        }
        node = child;
      }
    }
  }
  if (nodeCount !== INTERNAL_NODE_COUNT) throw new Error('Huffman table is not a complete code');

  const transitions = new Int32Array(INTERNAL_NODE_COUNT * 16);
  for (let state = 0; state < INTERNAL_NODE_COUNT; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[2 * node + ((nibble >> i) & 1)] ?? 0;
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = -child - 1;
        if (symbol === EOS) entry |= FAILS;
        else entry |= EMITS | (symbol << SYMBOL_SHIFT);
        node = 0;
      }
      transitions[state * 16 + nibble] = entry | node;
    }
  }
  return { transitions, accepting: acceptingNodes };
})();

/** Decodes bytes [start, end) of `input`; throws BAD_HUFFMAN on EOS or invalid padding. */
export function huffmanDecode(input: Uint8Array, start: number, end: number): Buffer {
  // The shortest code is 5 bits, so n bytes hold at most 8n/5 symbols.
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let length = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = input[i] ?? 0;
    const high = TRANSITIONS[state * 16 + (byte >> 4)] ?? FAILS;
    if ((high & EMITS) !== 0) out[length++] = high >> SYMBOL_SHIFT;
    const low = TRANSITIONS[(high & STATE_MASK) * 16 + (byte & 0xf)] ?? FAILS;
    if ((low & EMITS) !== 0) out[length++] = low >> SYMBOL_SHIFT;
    if (((high | low) & FAILS) !== 0) throw new Http2Error('BAD_HUFFMAN', 'EOS in string');
    state = low & STATE_MASK;
  }
  if (ACCEPTING[state] !== 1) throw new Http2Error('BAD_HUFFMAN', 'invalid padding');
  return out.subarray(0, length);
}

/** Bytes the Huffman encoding of `input` takes. */
export function huffmanEncodedLength(input: Uint8Array): number {
  let bits = 0;
  for (const byte of input) bits += CODE_LENGTHS_BITS[byte] ?? 0;
  return Math.ceil(bits / 8);
}

/** The Huffman encoding of `input`, padded with the leading 1 bits of EOS. */
export function huffmanEncode(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(input));
  let length = 0;
  // Fewer than 8 bits wait in `pending`; with a code of up to 30 bits it stays below 2^38, exact in a double.
  let pending = 0;
  let pendingBits = 0;
  for (const byte of input) {
    const bits = CODE_LENGTHS_BITS[byte] ?? 0;
    pending = pending * 2 ** bits + (CODES[byte] ?? 0);
    pendingBits += bits;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      const scale = 2 ** pendingBits;
      const top = Math.floor(pending / scale);
      out[length++] = top;
      pending -= top * scale;
    }
  }
  if (pendingBits > 0) out[length++] = (pending << (8 - pendingBits)) | (0xff >> pendingBits);
  return out;
}
