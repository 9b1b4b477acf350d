// IPAM allocation throughput and latency on a netcd cluster on loopback: many concurrent
// allocators, either one per node (each works in its own blocks) or all on one node (they contend
// for the same blocks), each allocation a real client/ipam call over its own client. Ends with a
// consistency check: zero duplicates, every acknowledged allocation present.
// Usage: node dist/bench/ipam.js [--members 3] [--allocators 32] [--allocations 4000]
//        [--scenario nodes|one-node|both] [--format table|markdown|json]

import { Command } from 'commander';
import * as hdr from 'hdr-histogram-js';
import { checkIpam } from '../client/ipam/check.js';
import { Ipam } from '../client/ipam/ipam.js';
import { Netcd } from '../client/netcd.js';
import { ProcessCluster } from '../server/testing/process-cluster.js';

interface Options {
  readonly members: number;
  readonly allocators: number;
  readonly allocations: number;
  readonly scenario: 'nodes' | 'one-node' | 'both';
  readonly format: 'table' | 'markdown' | 'json';
}

interface Result {
  readonly scenario: string;
  readonly members: number;
  readonly allocators: number;
  readonly allocations: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly conflicts: number;
  readonly errors: number;
  readonly duplicates: number;
  readonly findings: number;
}

async function runScenario(
  endpoints: readonly string[],
  o: Options,
  oneNode: boolean,
  run: number,
): Promise<Result> {
  const root = `/bench${run}/`;
  const admin = new Netcd({ endpoints });
  const adminIpam = new Ipam(admin, { root, node: 'admin' });
  await adminIpam.addPool({ name: 'bench', cidr: '10.128.0.0/12' });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const workers = Array.from({ length: o.allocators }, (_, i) => {
    // Each allocator is a separate client, as separate hosts (or CNI invocations) would be, and
    // starts on a different member.
    const client = new Netcd({
      endpoints: [...endpoints.slice(i % endpoints.length), ...endpoints.slice(0, i % endpoints.length)],
    });
    return { client, ipam: new Ipam(client, { root, node: oneNode ? 'node-0' : `node-${i}` }) };
  });
  let next = 0;
  let errors = 0;
  const owners = new Map<string, number>();
  const started = performance.now();
  await Promise.all(
    workers.map(async (w) => {
      for (;;) {
        const n = next++;
        if (n >= o.allocations) return;
        const t0 = performance.now();
        try {
          const a = await w.ipam.allocate({ network: 'bench', containerId: `c${n}`, ifname: 'eth0' }, [
            'bench',
          ]);
          histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          owners.set(a.address, (owners.get(a.address) ?? 0) + 1);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const report = await checkIpam(admin, adminIpam);
  const duplicates = [...owners.values()].filter((n) => n > 1).length;
  const conflicts = workers.reduce((sum, w) => sum + w.ipam.conflicts, 0);
  for (const w of workers) w.client.close();
  admin.close();
  const ok = o.allocations - errors;
  if (report.pools[0]?.allocated !== ok)
    throw new Error(`store holds ${report.pools[0]?.allocated} of ${ok} allocations`);
  return {
    scenario: oneNode ? 'one node' : 'one node each',
    members: endpoints.length,
    allocators: o.allocators,
    allocations: ok,
    perSecond: Math.round(ok / seconds),
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
    maxMs: histogram.maxValue / 1000,
    conflicts,
    errors,
    duplicates,
    findings: report.findings.length,
  };
}

function render(results: readonly Result[], format: Options['format']): string {
  if (format === 'json') return JSON.stringify(results, null, 2);
  const head = [
    'scenario',
    'members',
    'allocators',
    'allocations',
    'allocs/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'CAS retries',
    'errors',
    'duplicates',
  ];
  const rows = results.map((r) =>
    [
      r.scenario,
      r.members,
      r.allocators,
      r.allocations,
      r.perSecond,
      r.p50Ms.toFixed(1),
      r.p99Ms.toFixed(1),
      r.maxMs.toFixed(1),
      r.conflicts,
      r.errors,
      r.duplicates + r.findings,
    ].map(String),
  );
  if (format === 'markdown')
    return [
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const program = new Command('ipam-bench')
    .description('IPAM allocations per second on a netcd cluster on loopback')
    .option('--members <n>', 'cluster size', (v) => Number(v), 3)
    .option('--allocators <n>', 'concurrent allocators', (v) => Number(v), 32)
    .option('--allocations <n>', 'allocations per scenario', (v) => Number(v), 4000)
    .option('--scenario <s>', 'nodes | one-node | both', 'both')
    .option('--format <f>', 'table | markdown | json', 'table')
    .parse();
  const o = program.opts<Options>();
  const cluster = await ProcessCluster.start({ size: o.members });
  const stop = (): void => {
    void cluster.stop().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const endpoints = cluster.members.map((m) => m.clientUrl);
    const results: Result[] = [];
    if (o.scenario !== 'one-node') results.push(await runScenario(endpoints, o, false, 1));
    if (o.scenario !== 'nodes') results.push(await runScenario(endpoints, o, true, 2));
    process.stdout.write(`${render(results, o.format)}\n`);
  } finally {
    await cluster.stop();
  }
}

await main();
