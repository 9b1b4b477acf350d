// Property: concurrent allocators in several processes, on several nodes, through every member
// of a 3-member cluster while a member is killed and restarted, never give one address to two
// owners at once, never lose an acknowledged allocation, and leave state that `checkIpam` finds
// consistent. fast-check generates each worker's plan and the kill schedule.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { ProcessCluster } from '../../server/testing/process-cluster.js';
import { Netcd } from '../netcd.js';
import { checkIpam } from './check.js';
import { Ipam } from './ipam.js';
import type { WorkerPlan, WorkerRecord } from './testing/worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, '..', '..', 'dist', 'client', 'ipam', 'testing', 'worker.js');
const FAST = ['--heartbeat-interval=50', '--election-timeout=500'];
const NODES = ['node-a', 'node-a', 'node-b', 'node-c'];
const CONTAINERS_PER_WORKER = 6;
const WORKER_TIMEOUT_MS = 90_000;

function runWorker(plan: WorkerPlan): Promise<WorkerRecord[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(plan)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`worker ${plan.node} exited ${code ?? signal}: ${err}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as WorkerRecord),
        );
    });
  });
}

const opsArb = fc.array(
  fc.record({
    op: fc.constantFrom<'alloc' | 'release'>('alloc', 'alloc', 'release'),
    i: fc.nat(CONTAINERS_PER_WORKER - 1),
  }),
  { minLength: 15, maxLength: 30 },
);

const scenarioArb = fc.record({
  plans: fc.tuple(opsArb, opsArb, opsArb, opsArb),
  victim: fc.nat(2),
  killAfterMs: fc.integer({ min: 100, max: 1500 }),
  downMs: fc.integer({ min: 200, max: 1500 }),
});

/** Holding intervals per address: from an acknowledged allocation to the owner's next release attempt. */
function overlappingOwners(records: readonly WorkerRecord[]): string[] {
  const byContainer = new Map<string, WorkerRecord[]>();
  for (const r of records) byContainer.set(r.container, [...(byContainer.get(r.container) ?? []), r]);
  const holds: { address: string; container: string; from: number; to: number }[] = [];
  for (const [container, recs] of byContainer) {
    recs.sort((a, b) => a.invoked - b.invoked);
    recs.forEach((r, i) => {
      if (r.op !== 'alloc' || r.outcome !== 'ok' || r.address === undefined) return;
      const end = recs.slice(i + 1).find((x) => x.op === 'release' && x.outcome !== 'fail');
      holds.push({
        address: r.address,
        container,
        from: r.completed,
        to: end?.invoked ?? Number.POSITIVE_INFINITY,
      });
    });
  }
  const problems: string[] = [];
  for (const a of holds)
    for (const b of holds)
      if (a.container < b.container && a.address === b.address && a.from < b.to && b.from < a.to)
        problems.push(`${a.address} held by ${a.container} and ${b.container} at once`);
  return problems;
}

t.test('IPAM under concurrency and member kills', async (t) => {
  const c = await ProcessCluster.start({ size: 3, args: FAST });
  t.teardown(() => c.stop());
  const endpoints = c.members.map((m) => m.clientUrl);
  const admin = new Netcd({ endpoints, requestTimeoutMs: 10_000 });
  t.teardown(() => admin.close());
  let run = 0;
  let allocations = 0;

  const verdict = await fc.check(
    fc.asyncProperty(scenarioArb, async (s) => {
      run += 1;
      const root = `/prop${run}/`;
      const ipam = new Ipam(admin, { node: 'admin', root, cooldownMs: 0 });
      await ipam.addPool({ name: 'p', cidr: '10.77.0.0/27', blockSize: 30 });
      const plans: WorkerPlan[] = s.plans.map((ops, w) => ({
        endpoints,
        root,
        node: NODES[w] as string,
        pools: ['p'],
        ops: ops.map((o) => ({ op: o.op, container: `w${w}-c${o.i}` })),
      }));
      const victim = c.members[s.victim];
      if (victim === undefined) throw new Error('no victim');
      const nemesis = (async () => {
        await new Promise((r) => setTimeout(r, s.killAfterMs));
        await c.kill(victim.name);
        await new Promise((r) => setTimeout(r, s.downMs));
        await c.restart(victim.name);
      })();
      const results = await Promise.all(plans.map(runWorker));
      await nemesis;
      const records = results.flat();

      const overlaps = overlappingOwners(records);
      if (overlaps.length > 0) throw new Error(overlaps.join('; '));

      // Every acknowledged allocation not followed by a release attempt is still there.
      const final = new Map(
        (await ipam.handles('prop')).map((h) => [h.containerId, h.addresses[0]?.address]),
      );
      for (const recs of results)
        for (const container of new Set(recs.map((r) => r.container))) {
          const mine = recs.filter((r) => r.container === container && r.outcome !== 'fail');
          const last = mine[mine.length - 1];
          if (last?.op === 'alloc' && last.outcome === 'ok' && final.get(container) !== last.address)
            throw new Error(`acknowledged ${container} → ${last.address} lost (now ${final.get(container)})`);
        }

      const report = await checkIpam(admin, ipam);
      if (report.findings.length > 0) throw new Error(`inconsistent: ${JSON.stringify(report.findings)}`);
      const held = [...final.values()].filter(Boolean).length;
      if (report.pools[0]?.allocated !== held)
        throw new Error(`blocks count ${report.pools[0]?.allocated} addresses, handles ${held}`);
      allocations += records.filter((r) => r.op === 'alloc' && r.outcome === 'ok').length;
    }),
    { numRuns: 3, endOnFailure: true },
  );
  // The error first: fast-check's own report leads with the (long) counterexample.
  if (verdict.failed)
    t.fail(`seed ${verdict.seed}: ${(verdict.errorInstance as Error | undefined)?.message ?? 'failed'}`, {
      counterexample: JSON.stringify(verdict.counterexample),
    });
  t.ok(allocations > 0, `${allocations} acknowledged allocations checked over ${run} runs`);
});
