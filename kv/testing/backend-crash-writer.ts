// Child process of kv/backend-crash.test.ts (run from dist/ after `npm run build`): loads the
// backend in a directory, then applies the deterministic workload in Ready-sized batches, committing
// each batch atomically and printing "ack <index>" once the commit has returned, until SIGKILL.
// Usage: node dist/kv/testing/backend-crash-writer.js <dir> <seed>

import { LevelBackend } from '../backend.js';
import { newStateMachine, workloadEntry } from './apply-workload.js';

async function main(): Promise<void> {
  const [dir, seedArg] = process.argv.slice(2);
  if (dir === undefined || seedArg === undefined) {
    process.stderr.write('usage: backend-crash-writer <dir> <seed>\n');
    process.exit(2);
  }
  const seed = Number(seedArg);
  const backend = await LevelBackend.open(dir);
  const sm = newStateMachine();
  sm.load(await backend.load());
  let index = sm.appliedIndex;
  for (;;) {
    const batch = 1 + (index % 5);
    for (let i = 0; i < batch; i++) {
      index++;
      sm.apply(index, workloadEntry(seed, index, sm.store.currentRevision));
    }
    await backend.commit(sm.takeCommit());
    process.stdout.write(`ack ${index}\n`);
  }
}

await main();
