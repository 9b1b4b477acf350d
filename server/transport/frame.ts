// Length-prefixed msgpack frames (4-byte big-endian length, msgpackr body). The decoder refuses
// a length above its bound before buffering it, and copies each body out of the socket chunk so
// decoded byte fields never pin a larger buffer; large outgoing bodies are written uncopied.

import { Packr } from 'msgpackr';
import { TransportError } from './errors.js';

export const FRAME_HEADER_BYTES = 4;

/** Plain objects and arrays only: records would make the wire depend on the packer's history. */
const packr = new Packr({ useRecords: false });

/** Encodes one frame body (without its length prefix). */
export function encodeBody(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes one frame body; anything but exactly one well-formed msgpack value is BAD_FRAME. */
export function decodeBody(body: Uint8Array): unknown {
  if (body.length === 0) throw new TransportError('BAD_FRAME', 'empty frame body');
  try {
    return packr.unpack(body);
  } catch (err) {
    throw new TransportError('BAD_FRAME', (err as Error).message, { cause: err });
  }
}

/** Sum of the wire size of `bodies` once framed. */
export function framedBytes(bodies: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of bodies) n += FRAME_HEADER_BYTES + b.length;
  return n;
}

/** Bodies at least this large are handed to the socket as they are rather than copied. */
export const ZERO_COPY_BODY_BYTES = 32 * 1024;

/**
 * Lays `bodies` out as consecutive frames for one (vectored) socket write: runs of small frames
 * and the length headers are copied into shared buffers, large bodies are referenced, not copied.
 */
export function layoutFrames(bodies: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const flushRun = (largeBodyBytes: number): void => {
    const buf = Buffer.allocUnsafe(runBytes + (largeBodyBytes >= 0 ? FRAME_HEADER_BYTES : 0));
    let pos = 0;
    for (const b of run) {
      buf.writeUInt32BE(b.length, pos);
      buf.set(b, pos + FRAME_HEADER_BYTES);
      pos += FRAME_HEADER_BYTES + b.length;
    }
    if (largeBodyBytes >= 0) buf.writeUInt32BE(largeBodyBytes, pos);
    out.push(buf);
    run = [];
    runBytes = 0;
  };
  for (const b of bodies) {
    if (b.length >= ZERO_COPY_BODY_BYTES) {
      flushRun(b.length);
      out.push(b);
    } else {
      run.push(b);
      runBytes += FRAME_HEADER_BYTES + b.length;
    }
  }
  if (run.length > 0) flushRun(-1);
  return out;
}

/** Lays `bodies` out as consecutive frames in one buffer, for one socket write. */
export function assembleFrames(bodies: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(framedBytes(bodies));
  let pos = 0;
  for (const b of bodies) {
    out.writeUInt32BE(b.length, pos);
    out.set(b, pos + FRAME_HEADER_BYTES);
    pos += FRAME_HEADER_BYTES + b.length;
  }
  return out;
}

/** Reassembles frame bodies from a byte stream cut at arbitrary points. */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = [];
  /** Read position inside chunks[0]. */
  private offset = 0;
  private bufferedBytes = 0;
  /** Body length of the frame being assembled, or -1 while its header is incomplete. */
  private bodyBytes = -1;

  constructor(private maxFrameBytes: number) {}

  /** The bound applies from the next frame header on (raised after a handshake). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Feeds bytes; returns every body completed by them, in order. Throws FRAME_TOO_LARGE. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const bodies: Uint8Array[] = [];
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
        const header = this.take(FRAME_HEADER_BYTES);
        const length = ((header[0]! << 24) | (header[1]! << 16) | (header[2]! << 8) | header[3]!) >>> 0;
        if (length > this.maxFrameBytes)
          throw new TransportError('FRAME_TOO_LARGE', `${length} > ${this.maxFrameBytes} bytes`);
        this.bodyBytes = length;
      }
      if (this.bufferedBytes < this.bodyBytes) break;
      bodies.push(this.take(this.bodyBytes));
      this.bodyBytes = -1;
    }
    return bodies;
  }

  /** Bytes received but not yet returned as a body (for tests and stats). */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** Removes `n` buffered bytes into a fresh array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const count = Math.min(n - filled, head.length - this.offset);
      out.set(head.subarray(this.offset, this.offset + count), filled);
      filled += count;
      this.offset += count;
      if (this.offset === head.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    this.bufferedBytes -= n;
    return out;
  }
}
