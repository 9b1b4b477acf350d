// Crash safety of the kv backend with real processes: a writer applies multi-key transactions and
// commits them in batches; SIGKILL at random moments (fast-check picks them). After each kill the
// stored state must be exactly the state after its recorded applied index — never a half-applied
// batch or txn — and that index must cover every batch the writer acknowledged.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { LevelBackend } from './backend.js';
import { newStateMachine, workloadEntry } from './testing/apply-workload.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(ROOT, 'dist/kv/testing/backend-crash-writer.js');
/** Bound on one writer's life, so a stuck child fails the test instead of hanging it. */
const CYCLE_DEADLINE_MS = 20_000;
const live = new Set<ChildProcess>();

t.teardown(() => {
  for (const c of live) c.kill('SIGKILL');
});

/** Runs the writer until `acks` acks have been read, then `delayMs` more, then SIGKILL; returns the last ack. */
function runUntilKilled(dir: string, seed: number, acks: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let lastAck = 0;
    let count = 0;
    let stderr = '';
    let killed = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer did not reach ${acks} acks in ${CYCLE_DEADLINE_MS} ms: ${stderr}`));
    }, CYCLE_DEADLINE_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^ack (\d+)$/.exec(line);
      if (m === null || killed) return;
      lastAck = Number(m[1]);
      if (++count === acks) {
        setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.on('exit', () => {
      clearTimeout(deadline);
      live.delete(child);
      if (killed) resolve(lastAck);
      else reject(new Error(`writer exited by itself: ${stderr}`));
    });
  });
}

t.test('the writer is built', async (t) => {
  t.ok(existsSync(CHILD), `${CHILD} exists (run npm run build first)`);
});

t.test(
  'SIGKILL at random points: state is exactly that of the applied index, and covers every ack',
  async (t) => {
    if (!existsSync(CHILD)) return;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1000 }),
        fc.array(
          fc.record({ acks: fc.integer({ min: 1, max: 40 }), delayMs: fc.integer({ min: 0, max: 30 }) }),
          { minLength: 1, maxLength: 3 },
        ),
        async (seed, kills) => {
          const dir = mkdtempSync(join(tmpdir(), 'netcd-backend-crash-'));
          try {
            let acked = 0;
            for (const k of kills) {
              const last = await runUntilKilled(dir, seed, k.acks, k.delayMs);
              acked = Math.max(acked, last);
              const backend = await LevelBackend.open(dir);
              const stored = await backend.load();
              await backend.close();
              if (stored.applied < acked)
                throw new Error(`applied ${stored.applied} < acknowledged ${acked}`);
              // Replay the same workload in memory up to the stored index: states must be identical.
              const reference = newStateMachine();
              for (let i = 1; i <= stored.applied; i++)
                reference.apply(i, workloadEntry(seed, i, reference.store.currentRevision));
              const recovered = newStateMachine();
              recovered.load(stored);
              if (recovered.store.currentRevision !== reference.store.currentRevision) {
                throw new Error(
                  `revision ${recovered.store.currentRevision} != ${reference.store.currentRevision} at applied ${stored.applied}`,
                );
              }
              if (recovered.hash() !== reference.hash())
                throw new Error(`state differs from the replay at applied ${stored.applied}`);
            }
            return true;
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 12 },
    );
    t.pass('12 writers, up to 3 kills each');
  },
);
