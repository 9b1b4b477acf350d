// jepsen-lite command line: `sim` runs the deterministic cluster simulator over many seeds and
// exits non-zero when any run finds a violation, printing a one-line replay command for it.

import { Command, InvalidArgumentError, Option } from 'commander';
import { describeFault } from './sim/faults.js';
import { replayCommand, type SimulateOptions, simulate } from './sim/simulate.js';
import { BUG_NAMES, type BugName, type SimBugs } from './sim/world.js';

function intArg(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}]`);
    return n;
  };
}

interface SimFlags {
  seed: number;
  runs: number;
  nodes: number;
  steps: number;
  horizonMs: number;
  json: boolean;
  shrink: boolean;
  bug: BugName[];
}

export function runSimCommand(flags: SimFlags, out: (line: string) => void): number {
  const bugs: SimBugs = Object.fromEntries(flags.bug.map((b) => [b, true]));
  const totals = {
    runs: 0,
    simulatedMs: 0,
    messages: 0,
    faults: 0,
    commits: 0,
    steps: 0,
    violations: 0,
    failedRuns: 0,
  };
  const started = performance.now();
  for (let i = 0; i < flags.runs; i++) {
    const o: SimulateOptions = {
      seed: (flags.seed + i) >>> 0,
      nodes: flags.nodes,
      steps: flags.steps,
      horizonMs: flags.horizonMs,
      bugs,
    };
    const { result, shrunk } = simulate(o, flags.shrink);
    const s = result.stats;
    totals.runs++;
    totals.simulatedMs += s.simulatedMs;
    totals.messages += s.messages;
    totals.faults += s.faults;
    totals.commits += s.commits;
    totals.steps += s.steps;
    totals.violations += result.violations.length;
    if (result.violations.length > 0) totals.failedRuns++;
    if (flags.json) {
      out(
        JSON.stringify({
          run: i,
          seed: o.seed,
          ...s,
          violations: result.violations,
          replay: result.violations.length > 0 ? replayCommand(o) : undefined,
        }),
      );
    } else {
      const verdict =
        result.violations.length === 0
          ? 'ok'
          : `VIOLATION ${result.violations.map((v) => v.property).join(',')}`;
      out(
        `run ${i} seed=${o.seed} steps=${s.steps} sim=${(s.simulatedMs / 1000).toFixed(1)}s msgs=${s.messages} faults=${s.faults} commits=${s.commits} leaders=${s.leadersElected} ops=${s.clientOps}/${s.clientOk}ok watch-events=${s.watchEvents} leases=${s.leases.granted}/${s.leases.keepAlives}/${s.leases.revoked} ${verdict}`,
      );
    }
    if (result.violations.length > 0 && !flags.json) {
      for (const v of result.violations) out(`  ${v.property} at ${v.atMs}ms: ${v.detail}`);
      for (const line of result.faultLog.slice(-20)) out(`  fault: ${line}`);
      if (shrunk !== undefined) {
        out(
          `  shrunk schedule (${shrunk.schedule.length} faults) still fails with ${shrunk.result.violations.map((v) => v.property).join(',')}:`,
        );
        for (const ev of shrunk.schedule)
          out(`    at ${ev.atMs}ms for ${ev.durationMs}ms: ${describeFault(ev.fault)}`);
      }
      out(`  replay: ${replayCommand(o)}`);
    }
  }
  const wallS = (performance.now() - started) / 1000;
  const summary = {
    runs: totals.runs,
    simulatedSeconds: Number((totals.simulatedMs / 1000).toFixed(1)),
    steps: totals.steps,
    stepsPerWallSecond: Math.round(totals.steps / Math.max(wallS, 1e-9)),
    raftMessages: totals.messages,
    faultsInjected: totals.faults,
    commits: totals.commits,
    violations: totals.violations,
    failedRuns: totals.failedRuns,
    wallSeconds: Number(wallS.toFixed(1)),
  };
  if (flags.json) out(JSON.stringify({ summary }));
  else
    out(
      `total: runs=${summary.runs} simulated=${summary.simulatedSeconds}s steps=${summary.steps} (${summary.stepsPerWallSecond}/s wall) raft-messages=${summary.raftMessages} faults=${summary.faultsInjected} commits=${summary.commits} violations=${summary.violations} failed-runs=${summary.failedRuns}`,
    );
  return totals.failedRuns > 0 ? 1 : 0;
}

/** `configure` is applied before subcommands are added, so they inherit it (tests override exits). */
export function buildProgram(
  out: (line: string) => void,
  setExit: (code: number) => void,
  configure?: (c: Command) => void,
): Command {
  const program = new Command('jepsen-lite')
    .description('Fault injection and history checking for netcd')
    .showHelpAfterError();
  configure?.(program);
  program
    .command('sim')
    .description('run the deterministic cluster simulator over seeded fault schedules')
    .option('--seed <n>', 'seed of the first run (run i uses seed + i)', intArg('seed', 0, 2 ** 32 - 1), 1)
    .option('--runs <n>', 'number of runs', intArg('runs', 1, 1_000_000), 100)
    .addOption(
      new Option('--nodes <n>', 'voting members, 3 or 5 (plus two spares for membership changes)')
        .default(3)
        .argParser((v: string) => {
          if (v !== '3' && v !== '5') throw new InvalidArgumentError('Allowed choices are 3, 5.');
          return Number(v);
        }),
    )
    .option(
      '--steps <n>',
      'simulation events per run while faults are active',
      intArg('steps', 1, 100_000_000),
      20_000,
    )
    .option(
      '--horizon-ms <n>',
      'virtual time during which faults are scheduled',
      intArg('horizon-ms', 100, 3_600_000),
      4000,
    )
    .option('--json', 'one JSON object per run and a summary', false)
    .option('--shrink', 'on a violation, shrink the fault schedule with fast-check', false)
    .addOption(
      new Option('--bug <name>', 'switch on a deliberately broken variant (repeatable)')
        .choices([...BUG_NAMES])
        .argParser((v: string, prev: BugName[] = []) => {
          if (!(BUG_NAMES as readonly string[]).includes(v))
            throw new InvalidArgumentError(`unknown bug ${v}`);
          return [...prev, v as BugName];
        })
        .default([]),
    )
    .action((flags: SimFlags) => setExit(runSimCommand(flags, out)));
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  let code = 0;
  const program = buildProgram(
    (line) => process.stdout.write(`${line}\n`),
    (c) => {
      code = c;
    },
  );
  await program.parseAsync([...argv]);
  process.exitCode = code;
}
