// Proves the Huffman code is RFC 7541's: codes derived from the length table match Appendix B,
// the RFC's example strings encode to its bytes, every octet string round-trips, and decoding
// refuses EOS and padding that is too long or not made of 1 bits.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { isHttp2Error } from './errors.js';
import { huffmanCode, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

const checkProperty = propertyChecker('server/http2/huffman.test.ts');
const decode = (bytes: Buffer): Buffer => huffmanDecode(bytes, 0, bytes.length);

t.test('codes are the ones RFC 7541 Appendix B lists', async (t) => {
  const listed: [symbol: number, code: number, bits: number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [10, 0x3ffffffc, 30],
    [13, 0x3ffffffd, 30],
    [22, 0x3ffffffe, 30],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [60, 0x7ffc, 15],
    [97, 0x3, 5],
    [122, 0x7b, 7],
    [126, 0x1ffd, 13],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [200, 0x3ffffe2, 26],
    [254, 0x7fffff0, 27],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  for (const [symbol, code, bits] of listed) t.same(huffmanCode(symbol), { code, bits }, `symbol ${symbol}`);
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** -huffmanCode(s).bits;
  t.equal(kraft, 1, 'the code is complete: every bit string starts with a code');
});

t.test('the RFC examples encode to the RFC bytes and back', async (t) => {
  const examples: [text: string, hex: string][] = [
    ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
    ['no-cache', 'a8eb10649cbf'],
    ['custom-key', '25a849e95ba97d7f'],
    ['custom-value', '25a849e95bb8e8b4bf'],
    ['302', '6402'],
    ['private', 'aec3771a4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
    ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
    ['', ''],
  ];
  for (const [text, hex] of examples) {
    const octets = Buffer.from(text, 'latin1');
    t.equal(huffmanEncode(octets).toString('hex'), hex, text);
    t.equal(huffmanEncodedLength(octets), hex.length / 2);
    t.equal(decode(Buffer.from(hex, 'hex')).toString('latin1'), text);
  }
});

t.test('every octet string round-trips, in exactly the predicted length', async (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  t.same(decode(huffmanEncode(all)), all, 'all 256 octets');
  checkProperty(
    t,
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const octets = Buffer.from(bytes);
      const encoded = huffmanEncode(octets);
      return encoded.length === huffmanEncodedLength(octets) && decode(encoded).equals(octets);
    }),
    500,
  );
  const inside = Buffer.from('xx' + huffmanEncode(Buffer.from('abc')).toString('latin1') + 'yy', 'latin1');
  t.equal(
    huffmanDecode(inside, 2, inside.length - 2).toString(),
    'abc',
    'decodes a slice of a larger buffer',
  );
});

t.test('EOS, over-long padding and zero padding are refused', async (t) => {
  const refused = (hex: string) => {
    try {
      decode(Buffer.from(hex, 'hex'));
      return 'accepted';
    } catch (err) {
      return isHttp2Error(err, 'BAD_HUFFMAN') ? err.message : String(err);
    }
  };
  // 'a' is 00011: 0x1f is 'a' plus three padding 1s.
  t.equal(decode(Buffer.from('1f', 'hex')).toString(), 'a');
  t.equal(refused('1fff'), 'hpack: invalid Huffman code: invalid padding', '11 bits of padding');
  t.equal(refused('ff'), 'hpack: invalid Huffman code: invalid padding', '8 bits of padding, no symbol');
  t.equal(refused('18'), 'hpack: invalid Huffman code: invalid padding', 'padding of 0 bits');
  t.equal(refused('1e'), 'hpack: invalid Huffman code: invalid padding', 'padding ending in 0');
  t.equal(refused('ffffffff'), 'hpack: invalid Huffman code: EOS in string', 'EOS is 30 1s');
  t.equal(refused('1fffffffff'), 'hpack: invalid Huffman code: EOS in string', 'EOS after a symbol');
});
