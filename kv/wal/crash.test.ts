// Proves no acknowledged write is lost and nothing half-written is applied when the writer process
// dies by SIGKILL at arbitrary points: a real child process (the built WAL) saves, compacts and rolls
// segments until killed; the parent reopens the directory and compares with a MemoryStorage model.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { type Logger, pino } from 'pino';
import t from 'tap';
import { MemoryStorage } from '../../raft/storage.js';
import { asyncPropertyChecker } from '../../test/property.js';
import { type Observed, observe } from './testing/conformance.js';
import { type CrashOp, crashEntries, parseOp } from './testing/crash-workload.js';
import { Wal } from './wal.js';

const FILE = 'kv/wal/crash.test.ts';
const checkProperty = asyncPropertyChecker(FILE);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = join(ROOT, 'dist/kv/wal/testing/crash-writer.js');
/** A child that has not reached its kill point by then is stuck: fail rather than hang. */
const CYCLE_DEADLINE_MS = 30_000;
const RUNS = Number(process.env.CRASH_RUNS ?? 20);

/** Sources the child runs, compiled; a stale build would test old code. */
const CHILD_SOURCES = [
  'crc32c',
  'durable-log',
  'errors',
  'record',
  'replay',
  'segment',
  'wal',
  'testing/crash-workload',
  'testing/crash-writer',
];

function buildProblem(): string | null {
  if (!existsSync(CHILD)) return `${CHILD} is missing: run \`npm run build\` first`;
  for (const s of CHILD_SOURCES) {
    const src = join(ROOT, 'kv/wal', `${s}.ts`);
    const out = join(ROOT, 'dist/kv/wal', `${s}.js`);
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs)
      return `${out} is older than ${src}: run \`npm run build\` first`;
  }
  return null;
}

function apply(model: MemoryStorage, op: CrashOp): void {
  if (op.kind === 'compact') {
    model.compact(op.index);
    return;
  }
  model.append(crashEntries(op.start, op.count, op.term));
  model.setHardState({ term: op.term, vote: 1, commit: model.firstIndex() - 1 });
}

/** A one-line account of how the recovered log differs from the acknowledged one. */
function difference(want: Observed, got: Observed): string {
  const parts: string[] = [];
  if (want.first !== got.first || want.last !== got.last)
    parts.push(`expected entries ${want.first}..${want.last}, recovered ${got.first}..${got.last}`);
  const recovered = new Map(got.entries.map((e) => [e.index, JSON.stringify(e)]));
  const lost = want.entries.find((e) => recovered.get(e.index) !== JSON.stringify(e));
  if (lost !== undefined)
    parts.push(`acknowledged entry ${lost.index} (term ${lost.term}) missing or different`);
  if (JSON.stringify(want.hardState) !== JSON.stringify(got.hardState))
    parts.push(`hard state ${JSON.stringify(got.hardState)}, expected ${JSON.stringify(want.hardState)}`);
  return parts.join('; ') || 'snapshot metadata differs';
}

interface Cycle {
  readonly acked: CrashOp[];
  /** Announced but not acknowledged when the process died: may or may not have landed. */
  readonly inFlight: CrashOp | null;
  readonly stderr: string;
}

const live = new Set<ChildProcess>();

/** Runs the writer until `acks` acknowledgements have been read, waits `delayMs`, kills it with SIGKILL. */
function runUntilKilled(
  dir: string,
  args: {
    seed: number;
    segmentBytes: number;
    maxBatch: number;
    preallocate: boolean;
    acks: number;
    delayMs: number;
  },
): Promise<Cycle> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        CHILD,
        dir,
        String(args.seed),
        String(args.segmentBytes),
        String(args.maxBatch),
        args.preallocate ? '1' : '0',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    live.add(child);
    const acked: CrashOp[] = [];
    let inFlight: CrashOp | null = null;
    let stderr = '';
    let killed = false;
    let exited = false;
    let drained = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `writer did not reach ${args.acks} acks in ${CYCLE_DEADLINE_MS} ms (got ${acked.length}): ${stderr}`,
        ),
      );
    }, CYCLE_DEADLINE_MS);
    const finish = (): void => {
      if (!exited || !drained) return;
      clearTimeout(deadline);
      live.delete(child);
      if (!killed) reject(new Error(`writer exited by itself after ${acked.length} acks: ${stderr}`));
      else resolve({ acked, inFlight, stderr });
    };
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const parsed = parseOp(line);
      if (parsed === null) return;
      if (parsed.phase === 'begin') {
        inFlight = parsed.op;
        return;
      }
      acked.push(parsed.op);
      inFlight = null;
      if (acked.length === args.acks && !killed) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), args.delayMs);
      }
    });
    // Acks written before the kill are still in the pipe: read them all before judging.
    lines.on('close', () => {
      drained = true;
      finish();
    });
    child.on('exit', () => {
      exited = true;
      finish();
    });
  });
}

t.teardown(() => {
  for (const c of live) c.kill('SIGKILL');
});

t.test(
  'every acknowledged write survives SIGKILL at random points, and nothing half-written appears',
  async (t) => {
    const problem = buildProblem();
    if (problem !== null) {
      t.fail(problem);
      return;
    }
    const dirs: string[] = [];
    t.teardown(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });
    const outcomes = { cycles: 0, acks: 0, inFlightLanded: 0, inFlightLost: 0, tornTails: 0 };
    const kill = fc.record({ acks: fc.integer({ min: 1, max: 300 }), delayMs: fc.nat(3) });
    await checkProperty(
      t,
      fc.asyncProperty(
        fc.record({
          seed: fc.nat(),
          segmentBytes: fc.constantFrom(2048, 32 * 1024, 1024 * 1024),
          maxBatch: fc.constantFrom(1, 8, 64),
          preallocate: fc.boolean(),
          kills: fc.array(kill, { minLength: 1, maxLength: 3 }),
        }),
        async ({ seed, segmentBytes, maxBatch, preallocate, kills }) => {
          const dir = await mkdtemp(join(tmpdir(), 'netcd-wal-crash-'));
          dirs.push(dir);
          let model = new MemoryStorage();
          for (const [cycleNo, k] of kills.entries()) {
            const cycle = await runUntilKilled(dir, {
              seed: seed + cycleNo,
              segmentBytes,
              maxBatch,
              preallocate,
              ...k,
            });
            for (const op of cycle.acked) apply(model, op);
            const after = model.clone();
            if (cycle.inFlight !== null) apply(after, cycle.inFlight);
            const warnings: string[] = [];
            const logger: Logger = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) });
            const recovered = await Wal.open(dir, { segmentBytes, preallocate, logger });
            const got = observe(recovered);
            await recovered.close();
            outcomes.cycles++;
            outcomes.acks += cycle.acked.length;
            if (warnings.length > 0) outcomes.tornTails++;
            if (JSON.stringify(got) === JSON.stringify(observe(model))) {
              if (cycle.inFlight !== null) outcomes.inFlightLost++;
              continue;
            }
            if (cycle.inFlight !== null && JSON.stringify(got) === JSON.stringify(observe(after))) {
              outcomes.inFlightLanded++;
              model = after;
              continue;
            }
            throw new Error(
              `cycle ${cycleNo}: the recovered log is neither the acknowledged state nor it plus the in-flight ` +
                `${JSON.stringify(cycle.inFlight)}: ${difference(observe(model), got)}; ` +
                `warnings: ${warnings.join('').trim() || 'none'}; child stderr: ${cycle.stderr.trim() || 'none'}`,
            );
          }
        },
      ),
      RUNS,
    );
    t.comment(`crash outcomes: ${JSON.stringify(outcomes)}`);
    t.ok(outcomes.cycles >= RUNS, 'every run killed the writer at least once');
  },
);
