// HTTP/2 frames by hand, for tests that speak the protocol on a raw socket or feed the rewriter:
// building frames and gRPC requests, and splitting a byte stream back into frames.

import { FRAME_HEADER_BYTES, FrameFlag, FrameType, HTTP2_PREFACE } from './frames.js';
import { type HeaderField, HpackEncoder } from './hpack.js';

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** The complete frames at the start of `bytes` (after `skip` bytes), and how many bytes they take. */
export function parseFrames(bytes: Buffer, skip = 0): { frames: Frame[]; bytes: number } {
  const frames: Frame[] = [];
  let pos = skip;
  while (pos + FRAME_HEADER_BYTES <= bytes.length) {
    const length = bytes.readUIntBE(pos, 3);
    if (pos + FRAME_HEADER_BYTES + length > bytes.length) break;
    frames.push({
      type: bytes[pos + 3] ?? 0,
      flags: bytes[pos + 4] ?? 0,
      streamId: bytes.readUInt32BE(pos + 5) & 0x7fffffff,
      payload: bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length),
    });
    pos += FRAME_HEADER_BYTES + length;
  }
  return { frames, bytes: pos - skip };
}

export const field = (name: string, value: string, neverIndexed = false): HeaderField => ({
  name,
  value,
  neverIndexed,
});

/** The header list of a unary gRPC call, as grpc-go sends it (authority verbatim). */
export function grpcRequestHeaders(
  authority: string,
  path: string,
  extra: HeaderField[] = [],
): HeaderField[] {
  return [
    field(':method', 'POST'),
    field(':scheme', 'http'),
    field(':path', path),
    field(':authority', authority),
    field('content-type', 'application/grpc'),
    field('user-agent', 'grpc-go/1.26.0'),
    field('te', 'trailers'),
    ...extra,
  ];
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcMessage(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** Preface, empty SETTINGS, then one unary call per header list on streams 1, 3, 5, ... */
export function grpcConnectionBytes(
  encoder: HpackEncoder,
  calls: readonly { headers: HeaderField[]; message: Buffer }[],
): Buffer {
  const parts = [HTTP2_PREFACE, frame(FrameType.SETTINGS, 0, 0)];
  calls.forEach(({ headers, message }, i) => {
    const streamId = 2 * i + 1;
    parts.push(frame(FrameType.HEADERS, FrameFlag.END_HEADERS, streamId, encoder.encode(headers)));
    parts.push(frame(FrameType.DATA, FrameFlag.END_STREAM, streamId, grpcMessage(message)));
  });
  return Buffer.concat(parts);
}

/** A client-side encoder like nghttp2's or grpc-go's: Huffman where shorter, dynamic table in use. */
export function clientEncoder(): HpackEncoder {
  return new HpackEncoder({ indexing: 'incremental', huffman: 'shorter' });
}
