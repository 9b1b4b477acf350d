// Proves the client→server rewriter: a connection whose first authority is fine passes byte for
// byte (without copies); one whose first authority carries a scheme has every header block
// re-encoded with the authority fixed and nothing left in the server's dynamic table, while every
// other frame passes unchanged; padding, priority, CONTINUATION and splitting are handled; output
// does not depend on how the input is chunked; broken input is left to the server before the
// decision and refused after it.

import fc from 'fast-check';
import t, { type Test } from 'tap';
import { propertyChecker } from '../../test/property.js';
import {
  AuthorityRewriter,
  type AuthorityRewriterOptions,
  normalizeAuthority,
  type RewriteMode,
} from './authority-rewriter.js';
import { isHttp2Error } from './errors.js';
import { FrameFlag, FrameType, HTTP2_PREFACE, MAX_FRAME_PAYLOAD_BYTES } from './frames.js';
import { type HeaderField, HpackDecoder, HpackEncoder } from './hpack.js';
import {
  clientEncoder,
  type Frame,
  field,
  frame,
  grpcConnectionBytes,
  grpcRequestHeaders,
  parseFrames,
} from './testing.js';

const checkProperty = propertyChecker('server/http2/authority-rewriter.test.ts');
const PATH = '/etcdserverpb.Maintenance/Status';
const BAD = 'http://127.0.0.1:2379';
const GOOD = '127.0.0.1:2379';

interface Run {
  readonly out: Buffer;
  readonly emitted: Buffer[];
  readonly mode: RewriteMode;
  readonly error: unknown;
}

function run(chunks: readonly Buffer[], options: AuthorityRewriterOptions = {}): Run {
  const emitted: Buffer[] = [];
  const rewriter = new AuthorityRewriter((b) => emitted.push(b), options);
  let error: unknown;
  try {
    for (const chunk of chunks) rewriter.write(chunk);
  } catch (err) {
    error = err;
  }
  return { out: Buffer.concat(emitted), emitted, mode: rewriter.mode, error };
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

/** The server's view of `out`: every frame, with header blocks decoded by one decoder per connection. */
function serverView(
  t: Test,
  out: Buffer,
): { frames: Frame[]; lists: HeaderField[][]; decoder: HpackDecoder } {
  t.equal(out.subarray(0, HTTP2_PREFACE.length).toString('latin1'), HTTP2_PREFACE.toString('latin1'));
  const { frames, bytes } = parseFrames(out, HTTP2_PREFACE.length);
  t.equal(bytes, out.length - HTTP2_PREFACE.length, 'whole frames only');
  const decoder = new HpackDecoder();
  const lists: HeaderField[][] = [];
  let fragments: Buffer[] = [];
  for (const f of frames) {
    if (f.type !== FrameType.HEADERS && f.type !== FrameType.CONTINUATION) continue;
    fragments.push(f.payload);
    if (f.flags & FrameFlag.END_HEADERS) {
      lists.push(decoder.decode(Buffer.concat(fragments)));
      fragments = [];
    }
  }
  return { frames, lists, decoder };
}

const withAuthority = (list: HeaderField[], authority: string): HeaderField[] =>
  list.map((f) => (f.name === ':authority' ? { ...f, value: authority } : f));

t.test('normalizeAuthority drops a scheme and trailing slashes, nothing else', async (t) => {
  const cases: [string, string][] = [
    ['http://127.0.0.1:2379', '127.0.0.1:2379'],
    ['https://etcd.example:2379/', 'etcd.example:2379'],
    ['HTTP://[::1]:2379//', '[::1]:2379'],
    ['127.0.0.1:2379/', '127.0.0.1:2379'],
    ['127.0.0.1:2379', '127.0.0.1:2379'],
    ['unix://socket', 'unix://socket'],
    ['localhost', 'localhost'],
    ['http://', ''],
    ['', ''],
  ];
  for (const [input, expected] of cases) t.equal(normalizeAuthority(input), expected, input);
});

t.test('a connection whose first authority is fine passes byte for byte, without copies', async (t) => {
  const encoder = clientEncoder();
  const input = grpcConnectionBytes(encoder, [
    { headers: grpcRequestHeaders(GOOD, PATH), message: Buffer.from('one') },
    { headers: grpcRequestHeaders(GOOD, PATH), message: Buffer.from('two') },
    // A later bad authority is not this connection's pattern: it reaches the server as sent.
    { headers: grpcRequestHeaders(BAD, PATH), message: Buffer.from('three') },
  ]);
  const whole = run([input]);
  t.equal(whole.mode, 'passthrough');
  t.ok(whole.out.equals(input), 'identical bytes');
  const split = run(cut(input, [10, 60, 61, 200]));
  t.ok(split.out.equals(input));
  const later = split.emitted.at(-1);
  t.equal(later?.buffer, input.buffer, 'after the decision chunks are passed as they come, not copied');
});

t.test('a scheme in the authority is removed from every request; other frames pass unchanged', async (t) => {
  const encoder = clientEncoder();
  const calls = [0, 1, 2].map((i) => ({
    headers: grpcRequestHeaders(BAD, PATH, [field('x-call', String(i)), field('authorization', 'tok', true)]),
    message: Buffer.from(`message ${i}`),
  }));
  const input = grpcConnectionBytes(encoder, calls);
  t.ok(encoder.table.length > 0, "the client's blocks refer to its dynamic table");
  const { out, mode, error } = run([input]);
  t.equal(error, undefined);
  t.equal(mode, 'rewrite');
  const { frames, lists, decoder } = serverView(t, out);
  t.same(
    lists,
    calls.map((c) => withAuthority(c.headers, GOOD)),
    'the server reads the same fields, authority fixed, never-indexed kept',
  );
  t.equal(decoder.table.length, 0, "the server's dynamic table stays empty");
  const sent = parseFrames(input, HTTP2_PREFACE.length).frames;
  t.same(
    frames.filter((f) => f.type !== FrameType.HEADERS),
    sent.filter((f) => f.type !== FrameType.HEADERS),
    'SETTINGS and DATA frames unchanged, in order',
  );
  t.same(
    frames.map((f) => [f.type, f.flags, f.streamId]),
    sent.map((f) => [f.type, f.flags, f.streamId]),
    'frame order, flags and streams unchanged',
  );
});

t.test('padding and priority are dropped, CONTINUATIONs merged, END_STREAM kept', async (t) => {
  const encoder = clientEncoder();
  const list = grpcRequestHeaders(BAD, PATH, [field('x-long', 'v'.repeat(100))]);
  const block = encoder.encode(list);
  const padBytes = 7;
  const priority = Buffer.from([0x80, 0, 0, 0, 0x10]);
  const first = Buffer.concat([
    Buffer.from([padBytes]),
    priority,
    block.subarray(0, 10),
    Buffer.alloc(padBytes),
  ]);
  const input = Buffer.concat([
    HTTP2_PREFACE,
    frame(FrameType.SETTINGS, 0, 0),
    frame(FrameType.HEADERS, FrameFlag.PADDED | FrameFlag.PRIORITY | FrameFlag.END_STREAM, 5, first),
    frame(FrameType.CONTINUATION, 0, 5, block.subarray(10, 40)),
    frame(FrameType.CONTINUATION, 0, 5),
    frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 5, block.subarray(40)),
    frame(FrameType.DATA, FrameFlag.END_STREAM, 7, Buffer.from('after')),
  ]);
  const { out, error } = run([input]);
  t.equal(error, undefined);
  const { frames, lists } = serverView(t, out);
  t.same(lists, [withAuthority(list, GOOD)]);
  t.same(
    frames.map((f) => [f.type, f.flags, f.streamId]),
    [
      [FrameType.SETTINGS, 0, 0],
      [FrameType.HEADERS, FrameFlag.END_STREAM | FrameFlag.END_HEADERS, 5],
      [FrameType.DATA, FrameFlag.END_STREAM, 7],
    ],
  );
});

t.test('a block over 16 KiB is sent as HEADERS and CONTINUATION frames', async (t) => {
  const encoder = new HpackEncoder({ indexing: 'incremental' });
  const list = grpcRequestHeaders(BAD, PATH, [field('x-big', 'b'.repeat(40_000))]);
  const block = encoder.encode(list);
  const input = Buffer.concat([
    HTTP2_PREFACE,
    frame(FrameType.SETTINGS, 0, 0),
    frame(FrameType.HEADERS, FrameFlag.END_STREAM, 1, block.subarray(0, MAX_FRAME_PAYLOAD_BYTES)),
    frame(FrameType.CONTINUATION, 0, 1, block.subarray(MAX_FRAME_PAYLOAD_BYTES, 2 * MAX_FRAME_PAYLOAD_BYTES)),
    frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, block.subarray(2 * MAX_FRAME_PAYLOAD_BYTES)),
  ]);
  const { out, error } = run([input]);
  t.equal(error, undefined);
  const { frames, lists } = serverView(t, out);
  t.same(lists, [withAuthority(list, GOOD)]);
  t.same(
    frames.map((f) => [f.type, f.flags, f.streamId, f.payload.length <= MAX_FRAME_PAYLOAD_BYTES]),
    [
      [FrameType.SETTINGS, 0, 0, true],
      [FrameType.HEADERS, FrameFlag.END_STREAM, 1, true],
      [FrameType.CONTINUATION, 0, 1, true],
      [FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, true],
    ],
  );
});

t.test('the output does not depend on how the input is cut into chunks', async (t) => {
  const encoder = clientEncoder();
  const bad = grpcConnectionBytes(encoder, [
    { headers: grpcRequestHeaders(BAD, PATH), message: Buffer.from('a') },
    { headers: grpcRequestHeaders(BAD, PATH, [field('x-k', 'v')]), message: Buffer.alloc(300, 1) },
    { headers: grpcRequestHeaders(BAD, PATH), message: Buffer.alloc(0) },
  ]);
  const good = grpcConnectionBytes(clientEncoder(), [
    { headers: grpcRequestHeaders(GOOD, PATH), message: Buffer.from('a') },
    { headers: grpcRequestHeaders(GOOD, PATH), message: Buffer.from('b') },
  ]);
  const expected = [run([bad]).out, run([good]).out];
  const everyByte = (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
  t.ok(run(everyByte(bad)).out.equals(expected[0] ?? Buffer.alloc(0)), 'one byte at a time (rewrite)');
  t.ok(run(everyByte(good)).out.equals(good), 'one byte at a time (pass-through)');
  checkProperty(
    t,
    fc.property(fc.boolean(), fc.array(fc.nat(), { maxLength: 30 }), (useBad, offsets) => {
      const input = useBad ? bad : good;
      return run(cut(input, offsets)).out.equals(expected[useBad ? 0 : 1] ?? Buffer.alloc(0));
    }),
    300,
  );
});

t.test('broken input is passed to the server before the decision, refused after it', async (t) => {
  const settings = frame(FrameType.SETTINGS, 0, 0);
  const goodBlock = () => clientEncoder().encode(grpcRequestHeaders(GOOD, PATH));
  const badStart = (() => {
    const encoder = clientEncoder();
    return {
      encoder,
      bytes: Buffer.concat([
        HTTP2_PREFACE,
        settings,
        frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, encoder.encode(grpcRequestHeaders(BAD, PATH))),
      ]),
    };
  })();
  const undecided: [string, Buffer][] = [
    [
      'first frame is not SETTINGS',
      Buffer.concat([HTTP2_PREFACE, frame(FrameType.HEADERS, 4, 1, goodBlock())]),
    ],
    [
      'an undecodable block',
      Buffer.concat([HTTP2_PREFACE, settings, frame(FrameType.HEADERS, 4, 1, Buffer.from([0x80]))]),
    ],
    [
      'DATA inside a header block',
      Buffer.concat([
        HTTP2_PREFACE,
        settings,
        frame(FrameType.HEADERS, 0, 1, goodBlock().subarray(0, 3)),
        frame(FrameType.DATA, 0, 1, Buffer.from('x')),
        frame(FrameType.CONTINUATION, 4, 1, goodBlock().subarray(3)),
      ]),
    ],
    [
      'CONTINUATION alone',
      Buffer.concat([HTTP2_PREFACE, settings, frame(FrameType.CONTINUATION, 4, 1, goodBlock())]),
    ],
    [
      'HEADERS on stream 0',
      Buffer.concat([HTTP2_PREFACE, settings, frame(FrameType.HEADERS, 4, 0, goodBlock())]),
    ],
    [
      'padding longer than the frame',
      Buffer.concat([
        HTTP2_PREFACE,
        settings,
        frame(FrameType.HEADERS, 4 | FrameFlag.PADDED, 1, Buffer.from([9, 0x82])),
      ]),
    ],
    [
      'a header frame over 16 KiB',
      Buffer.concat([
        HTTP2_PREFACE,
        settings,
        frame(FrameType.HEADERS, 4, 1, Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES + 1, 0x82)),
      ]),
    ],
  ];
  undecided.push([
    'a header block over the bound',
    Buffer.concat([
      HTTP2_PREFACE,
      settings,
      frame(FrameType.HEADERS, 0, 1, Buffer.alloc(600, 0x82)),
      frame(FrameType.CONTINUATION, 4, 1, Buffer.alloc(600, 0x82)),
    ]),
  ]);
  for (const [name, input] of undecided) {
    const r = run([input], { maxHeaderBlockBytes: 1000 });
    t.equal(r.error, undefined, name);
    t.equal(r.mode, 'passthrough', name);
    t.ok(r.out.equals(input), `${name}: passed unchanged`);
  }

  const refused: [string, Buffer, string][] = [
    ['an undecodable block', frame(FrameType.HEADERS, 4, 3, Buffer.from([0xff, 0x80])), 'BAD_INTEGER'],
    [
      'DATA inside a header block',
      Buffer.concat([frame(FrameType.HEADERS, 0, 3, Buffer.from([0x82])), frame(FrameType.DATA, 0, 3)]),
      'BAD_FRAME_SEQUENCE',
    ],
    [
      'CONTINUATION on another stream',
      Buffer.concat([
        frame(FrameType.HEADERS, 0, 3, Buffer.from([0x82])),
        frame(FrameType.CONTINUATION, 4, 5),
      ]),
      'BAD_FRAME_SEQUENCE',
    ],
    [
      'a header block over the bound',
      Buffer.concat([
        frame(FrameType.HEADERS, 0, 3, Buffer.alloc(600, 0x82)),
        frame(FrameType.CONTINUATION, 4, 3, Buffer.alloc(600, 0x82)),
      ]),
      'HEADER_BLOCK_TOO_LARGE',
    ],
  ];
  for (const [name, after, code] of refused) {
    const r = run([badStart.bytes, after], { maxHeaderBlockBytes: 1000 });
    t.ok(isHttp2Error(r.error) && r.error.code === code, `${name}: ${code}`);
  }
});
