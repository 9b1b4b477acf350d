// The jepsen-lite command line: output per run and in total, exit codes, replay lines, errors.
import t from 'tap';
import { buildProgram } from './cli.js';

async function run(args: string[]): Promise<{ lines: string[]; code: number }> {
  const lines: string[] = [];
  let code = 0;
  const program = buildProgram(
    (l) => lines.push(l),
    (c) => {
      code = c;
    },
    (p) => {
      p.exitOverride();
      p.configureOutput({ writeOut: (s) => lines.push(s), writeErr: (s) => lines.push(s) });
    },
  );
  try {
    await program.parseAsync(['node', 'jepsen-lite', ...args]);
  } catch (err) {
    code = (err as { exitCode?: number }).exitCode ?? 1;
  }
  return { lines, code };
}

t.test('sim prints one line per run and a total, exit 0 when clean', async (t) => {
  const { lines, code } = await run(['sim', '--seed', '7', '--runs', '2', '--nodes', '3', '--steps', '3000']);
  t.equal(code, 0);
  t.equal(lines.length, 3);
  t.match(
    lines[0]!,
    /^run 0 seed=7 steps=\d+ sim=[\d.]+s msgs=\d+ faults=\d+ commits=\d+ leaders=\d+ ops=\d+\/\d+ok watch-events=\d+ leases=\d+\/\d+\/\d+ ok$/,
  );
  t.match(lines[1]!, /^run 1 seed=8 /);
  t.match(
    lines[2]!,
    /^total: runs=2 simulated=[\d.]+s steps=\d+ \(\d+\/s wall\) raft-messages=\d+ faults=\d+ commits=\d+ violations=0 failed-runs=0$/,
  );
});

t.test('a broken variant makes sim exit 1 with a replay command', async (t) => {
  const { lines, code } = await run([
    'sim',
    '--seed',
    '1',
    '--runs',
    '1',
    '--nodes',
    '3',
    '--bug',
    'doubleVote',
  ]);
  t.equal(code, 1);
  t.match(lines[0]!, /VIOLATION election-safety/);
  t.ok(
    lines.some((l) =>
      l.includes('replay: bin/jepsen-lite sim --seed 1 --runs 1 --nodes 3 --steps 20000 --bug doubleVote'),
    ),
  );
});

t.test('--json prints one object per run and a summary', async (t) => {
  const { lines, code } = await run(['sim', '--seed', '3', '--runs', '1', '--steps', '2000', '--json']);
  t.equal(code, 0);
  const run0 = JSON.parse(lines[0]!) as { run: number; seed: number; violations: unknown[] };
  t.equal(run0.run, 0);
  t.equal(run0.seed, 3);
  t.same(run0.violations, []);
  const summary = (JSON.parse(lines[1]!) as { summary: { runs: number; violations: number } }).summary;
  t.equal(summary.runs, 1);
  t.equal(summary.violations, 0);
});

t.test('bad arguments are refused with a clear error', async (t) => {
  const nodes = await run(['sim', '--nodes', '4']);
  t.not(nodes.code, 0);
  t.ok(nodes.lines.some((l) => l.includes('Allowed choices are 3, 5')));
  const runs = await run(['sim', '--runs', '0']);
  t.not(runs.code, 0);
  t.ok(runs.lines.some((l) => l.includes('runs must be an integer')));
  const bug = await run(['sim', '--bug', 'nonsense']);
  t.not(bug.code, 0);
});
