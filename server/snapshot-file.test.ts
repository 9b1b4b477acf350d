// The snapshot file framing: padding to whole 512-byte blocks, the SHA-256 trailer, and the checks
// a reader makes (size n * 512 + 32 with n > 0, checksum unless skipped).

import { createHash } from 'node:crypto';
import t from 'tap';
import { encodeSnapshotFile, openSnapshotFile, padSnapshot, snapshotChecksum } from './snapshot-file.js';

t.test('padding: parts end to end, zero-filled up to the next 512-byte block', async (t) => {
  t.equal(padSnapshot([]).length, 0, 'nothing stays nothing');
  t.equal(padSnapshot([new Uint8Array(1)]).length, 512);
  t.equal(padSnapshot([new Uint8Array(512)]).length, 512, 'a whole block gets no padding');
  t.equal(padSnapshot([new Uint8Array(300), new Uint8Array(213)]).length, 1024);
  const padded = padSnapshot([Uint8Array.from([1, 2]), Uint8Array.from([3])]);
  t.same([...padded.subarray(0, 4)], [1, 2, 3, 0]);
  t.ok(padded.subarray(3).every((x) => x === 0));
});

t.test('a file is the padded body and its SHA-256; opening returns the body', async (t) => {
  const snap = Buffer.from('netcd state');
  const file = encodeSnapshotFile(snap);
  t.equal(file.length, 512 + 32);
  const body = file.subarray(0, 512);
  t.same(file.subarray(512), createHash('sha256').update(body).digest());
  t.same(snapshotChecksum(body), file.subarray(512));
  t.same(Buffer.from(openSnapshotFile(file)), body);
});

t.test('opening refuses a wrong size always, a wrong checksum unless skipped', async (t) => {
  const file = encodeSnapshotFile(Buffer.from('netcd state'));
  for (const size of [0, 32, 543, 545])
    t.throws(
      () => openSnapshotFile(Buffer.alloc(size)),
      { code: 'BAD_SIZE', message: new RegExp(`^snapshot file size ${size} is not n \\* 512 \\+ 32 bytes`) },
      `${size} bytes`,
    );
  t.throws(
    () => openSnapshotFile(Buffer.alloc(543), { skipHashCheck: true }),
    { code: 'BAD_SIZE' },
    'skipped hash, size checked',
  );
  const damaged = Buffer.from(file);
  damaged[0] = damaged[0]! ^ 1;
  t.throws(() => openSnapshotFile(damaged), {
    code: 'HASH_MISMATCH',
    message: /SHA-256 mismatch: stored [0-9a-f]{64}, computed [0-9a-f]{64}/,
  });
  t.same(Buffer.from(openSnapshotFile(damaged, { skipHashCheck: true })), damaged.subarray(0, 512));
});
