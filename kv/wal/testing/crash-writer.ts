// Child process of kv/wal/crash.test.ts (run from dist/ after `npm run build`): opens the WAL in
// a directory and saves and compacts forever, announcing each operation before it starts and
// acknowledging it once durable, until the parent kills it with SIGKILL.
// Usage: node dist/kv/wal/testing/crash-writer.js <dir> <seed> <segmentBytes> <maxBatch> <preallocate 0|1>

import { Prng } from '../../../raft/prng.js';
import { Wal } from '../wal.js';
import { type CrashOp, crashEntries, formatOp } from './crash-workload.js';

/** Compaction keeps about this many entries behind, like snapshot-count catch-up entries. */
const KEEP_ENTRIES = 16;

async function main(): Promise<void> {
  const [dir, seedArg, segmentBytesArg, maxBatchArg, preallocateArg] = process.argv.slice(2);
  if (
    dir === undefined ||
    seedArg === undefined ||
    segmentBytesArg === undefined ||
    maxBatchArg === undefined
  ) {
    process.stderr.write('usage: crash-writer <dir> <seed> <segmentBytes> <maxBatch>\n');
    process.exit(2);
  }
  const rng = new Prng(Number(seedArg));
  const maxBatch = Number(maxBatchArg);
  const wal = await Wal.open(dir, {
    segmentBytes: Number(segmentBytesArg),
    preallocate: preallocateArg === '1',
  });
  let term = Math.max(1, wal.initialState().hardState.term);
  for (;;) {
    const first = wal.firstIndex();
    const last = wal.lastIndex();
    let op: CrashOp;
    if (last - first > 2 * KEEP_ENTRIES && rng.chance(0.1)) {
      op = { kind: 'compact', index: last - KEEP_ENTRIES };
    } else {
      // Now and then a new term replaces the last few entries (a follower's uncommitted tail).
      const back = last >= first && rng.chance(0.15) ? 1 + rng.int(Math.min(4, last - first + 1)) : 0;
      if (back > 0) term++;
      op = { kind: 'save', start: last + 1 - back, count: 1 + rng.int(maxBatch), term };
    }
    process.stdout.write(formatOp('begin', op));
    if (op.kind === 'compact') await wal.compact(op.index);
    else
      await wal.save(
        { term: op.term, vote: 1, commit: wal.firstIndex() - 1 },
        crashEntries(op.start, op.count, op.term),
        null,
      );
    // Pipes are written synchronously on Linux: once this returns the parent can read the ack.
    process.stdout.write(formatOp('ack', op));
  }
}

await main();
