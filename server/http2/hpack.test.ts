// Proves the HPACK codec against RFC 7541 Appendix C (integers, single fields, request and
// response sequences with and without Huffman, with eviction), against Node's own encoder
// (nghttp2, which uses the dynamic table and Huffman coding), by round trips of random header
// lists with table resizes, and that malformed blocks are refused with the right code.

import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { type Http2ErrorCode, isHttp2Error } from './errors.js';
import { FrameType, HTTP2_PREFACE } from './frames.js';
import { type HeaderField, HpackDecoder, HpackEncoder, STATIC_TABLE } from './hpack.js';
import { field, parseFrames } from './testing.js';

const checkProperty = propertyChecker('server/http2/hpack.test.ts');
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: readonly HeaderField[]) => fields.map((f) => [f.name, f.value]);
const fields = (list: [string, string][]): HeaderField[] => list.map(([n, v]) => field(n, v));

function refusal(decoder: HpackDecoder, block: Buffer): Http2ErrorCode | 'accepted' | string {
  try {
    decoder.decode(block);
    return 'accepted';
  } catch (err) {
    return isHttp2Error(err) ? err.code : String(err);
  }
}

t.test('integers with N-bit prefixes (C.1) and the four field representations (C.2)', async (t) => {
  // C.1.1 / C.1.2: 10 and 1337 as the index of a literal with incremental indexing would need a
  // table; as dynamic table size updates (5-bit prefix) they decode to the same integers.
  const decoder = new HpackDecoder({ maxTableSizeLimitBytes: 2000 });
  decoder.decode(hex('2a'));
  t.equal(decoder.table.maxSizeBytes, 10, '10 in a 5-bit prefix is one byte');
  decoder.decode(hex('3f9a0a'));
  t.equal(decoder.table.maxSizeBytes, 1337, '1337 in a 5-bit prefix takes 1f 9a 0a');
  const encoder = new HpackEncoder({ indexing: 'incremental', tableSizeBytes: 4096 });
  encoder.resizeTable(1337);
  t.equal(encoder.encode([]).toString('hex'), '3f9a0a');

  const c2: [hex: string, field: HeaderField, table: [string, string][]][] = [
    [
      '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      field('custom-key', 'custom-header'),
      [['custom-key', 'custom-header']],
    ],
    ['040c 2f73 616d 706c 652f 7061 7468', field(':path', '/sample/path'), []],
    ['1008 7061 7373 776f 7264 0673 6563 7265 74', field('password', 'secret', true), []],
    ['82', field(':method', 'GET'), []],
  ];
  for (const [block, expected, table] of c2) {
    const d = new HpackDecoder();
    t.same(d.decode(hex(block)), [expected], `${expected.name}: ${expected.value}`);
    t.same(d.table.snapshot(), table);
  }
});

const REQUESTS: [string, string][][] = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];
const REQUEST_TABLES: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: [string, string][][] = [
  [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', DATE_1],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', DATE_1],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', DATE_2],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', COOKIE],
  ],
];
const RESPONSE_TABLES: [string, string][][] = [
  [
    ['location', 'https://www.example.com'],
    ['date', DATE_1],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', 'https://www.example.com'],
    ['date', DATE_1],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', COOKIE],
    ['content-encoding', 'gzip'],
    ['date', DATE_2],
  ],
];
const SEQUENCES: [
  name: string,
  tableBytes: number,
  huffman: boolean,
  blocks: string[],
  lists: [string, string][][],
  tables: [string, string][][],
][] = [
  [
    'C.3 requests without Huffman',
    4096,
    false,
    [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
    REQUESTS,
    REQUEST_TABLES,
  ],
  [
    'C.4 requests with Huffman',
    4096,
    true,
    [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
    REQUESTS,
    REQUEST_TABLES,
  ],
  [
    'C.5 responses without Huffman, 256-byte table',
    256,
    false,
    [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ],
    RESPONSES,
    RESPONSE_TABLES,
  ],
  [
    'C.6 responses with Huffman, 256-byte table',
    256,
    true,
    [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ],
    RESPONSES,
    RESPONSE_TABLES,
  ],
];

t.test('RFC 7541 Appendix C sequences decode, and encode to the same bytes', async (t) => {
  for (const [name, tableBytes, huffman, blocks, lists, tables] of SEQUENCES) {
    const decoder = new HpackDecoder({ maxTableSizeLimitBytes: tableBytes });
    const encoder = new HpackEncoder({
      indexing: 'incremental',
      huffman: huffman ? 'always' : 'never',
      tableSizeBytes: tableBytes,
    });
    blocks.forEach((block, i) => {
      const list = lists[i] ?? [];
      t.same(pairs(decoder.decode(hex(block))), list, `${name} #${i + 1} decodes`);
      t.same(decoder.table.snapshot(), tables[i], `${name} #${i + 1} decoder table`);
      t.equal(
        encoder.encode(fields(list)).toString('hex'),
        hex(block).toString('hex'),
        `${name} #${i + 1} encodes`,
      );
      t.same(encoder.table.snapshot(), tables[i], `${name} #${i + 1} encoder table`);
    });
  }
});

t.test("blocks written without indexing never touch the peer's table and stand alone", async (t) => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  const list = [
    field(':method', 'POST'),
    field(':path', '/etcdserverpb.KV/Range'),
    field(':authority', '127.0.0.1:2379'),
    field('x-secret', 'token', true),
    field('grpc-timeout', '5S'),
  ];
  const block = encoder.encode(list);
  t.equal(block[0], 0x83, ':method POST is the static index 3');
  for (let i = 0; i < 3; i++) t.same(decoder.decode(block), list, 'decodes the same, every time');
  t.equal(decoder.table.length, 0, 'the decoder table stays empty');
  t.same(new HpackDecoder().decode(block), list, 'a fresh decoder reads it too');
  t.same(
    new HpackEncoder({ huffman: 'always' }).encode(list).length < block.length,
    true,
    'Huffman is shorter',
  );
});

t.test('a never-indexed field stays never-indexed, even when the table holds it', async (t) => {
  const encoder = new HpackEncoder({ indexing: 'incremental' });
  const decoder = new HpackDecoder();
  const plain = field('authorization', 'abc');
  const secret = field('authorization', 'abc', true);
  t.same(decoder.decode(encoder.encode([plain, secret, field(':method', 'GET', true)])), [
    plain,
    secret,
    field(':method', 'GET', true),
  ]);
  t.same(decoder.table.snapshot(), [['authorization', 'abc']]);
});

t.test(
  'dynamic table size updates: shrink to 0 and grow back, only at the start, within the limit',
  async (t) => {
    const encoder = new HpackEncoder({ indexing: 'incremental' });
    const decoder = new HpackDecoder();
    const list = [field('x-a', '1'), field('x-b', '2')];
    t.same(decoder.decode(encoder.encode(list)), list);
    t.equal(decoder.table.length, 2);
    encoder.resizeTable(0);
    encoder.resizeTable(100);
    const block = encoder.encode(list);
    t.equal(block.subarray(0, 3).toString('hex'), '203f45', 'two updates lead the block');
    t.same(decoder.decode(block), list);
    t.equal(decoder.table.maxSizeBytes, 100);
    t.same(
      decoder.table.snapshot(),
      [
        ['x-b', '2'],
        ['x-a', '1'],
      ],
      'old entries went with the shrink to 0',
    );
    const big = field('x-big', 'v'.repeat(200));
    t.same(decoder.decode(encoder.encode([big])), [big], 'an entry larger than the table empties it');
    t.equal(decoder.table.length, 0);
    t.equal(decoder.table.sizeBytes, 0);

    t.equal(refusal(new HpackDecoder(), hex('82 20')), 'BAD_TABLE_SIZE_UPDATE', 'after a field');
    t.equal(refusal(new HpackDecoder(), hex('3fe21f')), 'BAD_TABLE_SIZE_UPDATE', '4097 > 4096');
    t.equal(refusal(new HpackDecoder({ maxTableSizeLimitBytes: 8192 }), hex('3fe21f')), 'accepted');
  },
);

t.test('malformed blocks are refused with their code', async (t) => {
  const cases: [string, Http2ErrorCode][] = [
    ['80', 'BAD_INDEX'],
    ['be', 'BAD_INDEX'],
    ['ff80808080', 'BAD_INTEGER'],
    ['ffffffffff0f', 'BAD_INTEGER'],
    ['40', 'BAD_STRING'],
    ['4003 6162', 'BAD_STRING'],
    ['0081', 'BAD_STRING'],
    ['4085 ffffffffff 00', 'BAD_HUFFMAN'],
    ['7f00', 'BAD_INDEX'],
  ];
  for (const [block, code] of cases) t.equal(refusal(new HpackDecoder(), hex(block)), code, block);
  const decoder = new HpackDecoder({ maxHeaderListBytes: 100 });
  const encoder = new HpackEncoder();
  t.equal(refusal(decoder, encoder.encode([field('x', 'a'.repeat(60))])), 'accepted');
  t.equal(
    refusal(decoder, encoder.encode([field('x', 'a'.repeat(60)), field('y', 'b')])),
    'HEADER_LIST_TOO_LARGE',
  );
  const bomb = new HpackEncoder({ indexing: 'incremental' });
  const bombDecoder = new HpackDecoder({ maxHeaderListBytes: 10_000 });
  bombDecoder.decode(bomb.encode([field('x-big', 'v'.repeat(3000))]));
  t.equal(
    refusal(bombDecoder, Buffer.alloc(10, 0x80 | (STATIC_TABLE.length + 1))),
    'HEADER_LIST_TOO_LARGE',
    'one-byte references to a large entry cannot blow up the header list',
  );
});

const headerName = fc.oneof(
  fc.constantFrom(...STATIC_TABLE.map(([name]) => name)),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
);
const latin1 = fc.string({
  unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const headerValue = fc.oneof(fc.constantFrom(...STATIC_TABLE.map(([, value]) => value)), latin1);
const headerList = fc.array(fc.record({ name: headerName, value: headerValue, neverIndexed: fc.boolean() }), {
  maxLength: 12,
});

t.test('random header lists round-trip, and the tables on both sides stay equal', async (t) => {
  checkProperty(
    t,
    fc.property(
      fc.array(
        fc.record({
          list: headerList,
          resize: fc.option(fc.integer({ min: 0, max: 4096 }), { freq: 4 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.constantFrom('never', 'shorter', 'always'),
      fc.constantFrom('none', 'incremental'),
      (blocks, huffman, indexing) => {
        const encoder = new HpackEncoder({ huffman, indexing });
        const decoder = new HpackDecoder();
        for (const { list, resize } of blocks) {
          if (resize !== null) encoder.resizeTable(resize);
          const decoded = decoder.decode(encoder.encode(list));
          if (JSON.stringify(decoded) !== JSON.stringify(list)) return false;
          if (JSON.stringify(decoder.table.snapshot()) !== JSON.stringify(encoder.table.snapshot()))
            return false;
          if (indexing === 'none' && decoder.table.length !== 0) return false;
        }
        return true;
      },
    ),
    300,
  );
});

/** What Node's HTTP/2 client writes for these requests on one connection: its HEADERS blocks, in order. */
async function nodeClientBlocks(requests: readonly Record<string, string>[]): Promise<Buffer[]> {
  const written: Buffer[] = [];
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk);
      callback();
    },
  });
  const session = http2.connect('http://127.0.0.1', { createConnection: () => wire });
  session.on('error', () => {});
  for (const headers of requests) session.request(headers, { endStream: false }).on('error', () => {});
  const deadline = Date.now() + 5000;
  const blocks = () =>
    parseFrames(Buffer.concat(written), HTTP2_PREFACE.length).frames.filter(
      (f) => f.type === FrameType.HEADERS,
    );
  while (blocks().length < requests.length && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 2));
  session.destroy();
  return blocks().map((f) => Buffer.from(f.payload));
}

t.test("Node's own encoder (Huffman, dynamic table) is decoded exactly", async (t) => {
  // Node refuses control characters in header values: every other octet is fair.
  const valueOctet = fc.oneof(
    fc.constant(9),
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0xff }),
  );
  const value = fc.string({ unit: valueOctet.map((c) => String.fromCharCode(c)), maxLength: 30 });
  const name = fc.stringMatching(/^x-[a-z0-9]{1,8}$/);
  const requests = fc.array(fc.array(fc.tuple(name, value), { maxLength: 6 }), {
    minLength: 1,
    maxLength: 8,
  });
  const samples = fc.sample(requests, { numRuns: 40, seed: 7541 });
  for (const [i, sample] of samples.entries()) {
    const lists = sample.map((extra, j) => ({
      ':method': 'POST',
      ':path': `/svc/Method${j % 3}`,
      ':authority': 'http://127.0.0.1:2379',
      ...Object.fromEntries(extra),
    }));
    const blocks = await nodeClientBlocks(lists);
    const decoder = new HpackDecoder();
    const decoded = blocks.map((b) =>
      Object.fromEntries(pairs(decoder.decode(b)).filter(([n]) => n !== ':scheme')),
    );
    if (JSON.stringify(decoded) !== JSON.stringify(lists)) {
      t.same(decoded, lists, `sample ${i} (fc.sample seed 7541)`);
      return;
    }
  }
  t.pass('40 connections of random requests decode to what was sent (fc.sample seed 7541)');
});
