// The framing of a snapshot as the Maintenance service streams it and `etcdctl snapshot save` stores
// it: the state machine's snapshot bytes, zero-padded to whole 512-byte blocks, then the SHA-256 of
// everything before. One module for both directions, so the stream and the restore cannot drift.

import { createHash } from 'node:crypto';

/**
 * The snapshot is zero-padded to a multiple of this before its checksum: etcd's files are whole
 * database pages, and etcdctl refuses a file whose size is not n * 512 + 32. A reader drops the
 * checksum and must ignore the trailing zero bytes (the state machine's decoder does).
 */
export const SNAPSHOT_ALIGN_BYTES = 512;
/** The SHA-256 that ends the file. */
export const SNAPSHOT_HASH_BYTES = 32;

export type SnapshotFileErrorCode = 'BAD_SIZE' | 'HASH_MISMATCH';

export class SnapshotFileError extends Error {
  readonly code: SnapshotFileErrorCode;
  constructor(code: SnapshotFileErrorCode, message: string) {
    super(message);
    this.name = 'SnapshotFileError';
    this.code = code;
  }
}

/** The snapshot's parts laid end to end and zero-padded to whole blocks (the body that is hashed). */
export function padSnapshot(parts: readonly Uint8Array[]): Buffer {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const padded = Buffer.alloc(Math.ceil(size / SNAPSHOT_ALIGN_BYTES) * SNAPSHOT_ALIGN_BYTES);
  let at = 0;
  for (const part of parts) {
    padded.set(part, at);
    at += part.length;
  }
  return padded;
}

export function snapshotChecksum(padded: Uint8Array): Buffer {
  return createHash('sha256').update(padded).digest();
}

/** The whole file `etcdctl snapshot save` writes for these snapshot bytes. */
export function encodeSnapshotFile(snapshot: Uint8Array): Buffer {
  const padded = padSnapshot([snapshot]);
  return Buffer.concat([padded, snapshotChecksum(padded)]);
}

/**
 * Checks a saved file's size and (unless told not to) its checksum, and returns the padded body:
 * the snapshot followed by zero bytes. Skipping the hash check is for files whose checksum was
 * lost or rewritten by a copy tool; the size must still be right.
 */
export function openSnapshotFile(file: Uint8Array, o: { readonly skipHashCheck?: boolean } = {}): Uint8Array {
  const bodyBytes = file.length - SNAPSHOT_HASH_BYTES;
  if (bodyBytes <= 0 || bodyBytes % SNAPSHOT_ALIGN_BYTES !== 0)
    throw new SnapshotFileError(
      'BAD_SIZE',
      `snapshot file size ${file.length} is not n * ${SNAPSHOT_ALIGN_BYTES} + ${SNAPSHOT_HASH_BYTES} bytes (n > 0): truncated or not a snapshot`,
    );
  const body = file.subarray(0, bodyBytes);
  if (o.skipHashCheck !== true) {
    const expected = file.subarray(bodyBytes);
    const actual = snapshotChecksum(body);
    if (!actual.equals(expected))
      throw new SnapshotFileError(
        'HASH_MISMATCH',
        `snapshot file SHA-256 mismatch: stored ${Buffer.from(expected).toString('hex')}, computed ${actual.toString('hex')}`,
      );
  }
  return body;
}
