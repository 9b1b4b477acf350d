// Runs seeded simulations. A run's fault schedule is drawn by fast-check from the run's seed,
// so `--seed S --runs 1` replays it exactly, and a failing schedule can be shrunk by fast-check
// to a smaller one that still fails.

import fc from 'fast-check';
import type { Fault, FaultEvent } from './faults.js';
import { scheduleArbitrary, swarmScheduleArbitrary } from './faults.js';
import { type SimBugs, type SimResult, World } from './world.js';

export interface SimulateOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly horizonMs?: number;
  readonly maxFaults?: number;
  readonly kinds?: readonly Fault['kind'][];
  readonly bugs?: SimBugs;
}

export interface RunOutcome {
  readonly result: SimResult;
  readonly schedule: readonly FaultEvent[];
  /** With shrinking: the smallest failing schedule fast-check found, and its result. */
  readonly shrunk?: { readonly schedule: readonly FaultEvent[]; readonly result: SimResult };
}

const DEFAULT_HORIZON_MS = 4000;
const DEFAULT_MAX_FAULTS = 40;

function runWorld(o: SimulateOptions, schedule: readonly FaultEvent[]): SimResult {
  return new World({
    seed: o.seed,
    nodes: o.nodes,
    steps: o.steps,
    schedule,
    horizonMs: o.horizonMs ?? DEFAULT_HORIZON_MS,
    ...(o.bugs === undefined ? {} : { bugs: o.bugs }),
  }).run();
}

/** One run from one seed; with `shrink`, a failing schedule is minimised. */
export function simulate(o: SimulateOptions, shrink = false): RunOutcome {
  const shape = {
    nodes: o.nodes,
    horizonMs: o.horizonMs ?? DEFAULT_HORIZON_MS,
    maxFaults: o.maxFaults ?? DEFAULT_MAX_FAULTS,
  };
  const arb =
    o.kinds === undefined ? swarmScheduleArbitrary(shape) : scheduleArbitrary({ ...shape, kinds: o.kinds });
  let first: { schedule: readonly FaultEvent[]; result: SimResult } | null = null;
  let last: { schedule: readonly FaultEvent[]; result: SimResult } | null = null;
  const details = fc.check(
    fc.property(arb, (schedule) => {
      const result = runWorld(o, schedule);
      if (first === null) first = { schedule, result };
      if (result.violations.length > 0) last = { schedule, result };
      return result.violations.length === 0;
    }),
    { seed: o.seed, numRuns: 1, endOnFailure: !shrink, maxSkipsPerRun: 0 },
  );
  const head = first as { schedule: readonly FaultEvent[]; result: SimResult } | null;
  if (head === null) throw new Error(`simulation produced no run: ${details.errorInstance ?? 'unknown'}`);
  const tail = last as { schedule: readonly FaultEvent[]; result: SimResult } | null;
  if (shrink && details.failed && tail !== null) {
    return { result: head.result, schedule: head.schedule, shrunk: tail };
  }
  return { result: head.result, schedule: head.schedule };
}

export function replayCommand(o: SimulateOptions): string {
  const bugs = Object.entries(o.bugs ?? {})
    .filter(([, on]) => on === true)
    .map(([name]) => ` --bug ${name}`)
    .join('');
  return `bin/jepsen-lite sim --seed ${o.seed} --runs 1 --nodes ${o.nodes} --steps ${o.steps}${bugs}`;
}
