// Side-by-side put throughput and latency of netcd and etcd 3.4 clusters of the same size on
// loopback, in one run, A/B/A/B: the same gRPC load (N clients over M connections, fixed key
// space and value size) against each, reporting requests/s and latency percentiles (HDR).
// Usage: node dist/bench/put-compare.js [--members 3] [--requests 20000] [--clients 64]
//        [--connections 8] [--value-bytes 256] [--keys 10000] [--rounds 2]

import { type Client, credentials, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { Command } from 'commander';
import * as hdr from 'hdr-histogram-js';
import { etcdGrpcObject } from '../server/proto/etcd.js';
import { ProcessCluster, type ServerKind } from '../server/testing/process-cluster.js';

interface Options {
  readonly members: number;
  readonly requests: number;
  readonly clients: number;
  readonly connections: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly rounds: number;
}

interface RoundResult {
  readonly kind: ServerKind;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
}

type PutClient = Client & {
  Put(req: object, cb: (err: Error | null) => void): void;
};

function kvClients(endpoints: readonly string[], connections: number): PutClient[] {
  const pkg = (etcdGrpcObject().etcdserverpb as GrpcObject).KV as ServiceClientConstructor;
  return Array.from({ length: connections }, (_, i) => {
    const target = endpoints[i % endpoints.length]!.replace('http://', '');
    // A distinct channel option per connection keeps grpc-js from sharing one subchannel.
    return new pkg(target, credentials.createInsecure(), {
      'grpc.netcd_bench_channel': i,
    }) as unknown as PutClient;
  });
}

async function putLoad(endpoints: readonly string[], o: Options): Promise<Omit<RoundResult, 'kind'>> {
  const clients = kvClients(endpoints, o.connections);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const value = Buffer.alloc(o.valueBytes, 0x61);
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      const client = clients[c % clients.length]!;
      while (next < o.requests) {
        const i = next++;
        const key = Buffer.from(`bench/${(i * 7919) % o.keys}`);
        const t0 = performance.now();
        await new Promise<void>((resolve) =>
          client.Put({ key, value }, (err) => {
            if (err !== null) errors++;
            resolve();
          }),
        );
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const c of clients) c.close();
  return {
    requestsPerSecond: o.requests / seconds,
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
    maxMs: histogram.maxValue / 1000,
    errors,
  };
}

async function round(kind: ServerKind, o: Options): Promise<RoundResult> {
  const cluster = await ProcessCluster.start({ kind, size: o.members });
  try {
    await putLoad(
      cluster.members.map((m) => m.clientUrl),
      { ...o, requests: Math.min(2000, o.requests) },
    );
    const r = await putLoad(
      cluster.members.map((m) => m.clientUrl),
      o,
    );
    return { kind, ...r };
  } finally {
    await cluster.stop();
  }
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

async function main(): Promise<void> {
  const program = new Command('put-compare')
    .description('put throughput and latency: netcd vs etcd 3.4, same cluster size, one run')
    .option('--members <n>', 'members per cluster', '3')
    .option('--requests <n>', 'puts per round', '20000')
    .option('--clients <n>', 'concurrent requests in flight', '64')
    .option('--connections <n>', 'gRPC connections', '8')
    .option('--value-bytes <n>', 'value size', '256')
    .option('--keys <n>', 'key space', '10000')
    .option('--rounds <n>', 'A/B rounds', '2')
    .parse();
  const f = program.opts<Record<string, string>>();
  const o: Options = {
    members: Number(f.members),
    requests: Number(f.requests),
    clients: Number(f.clients),
    connections: Number(f.connections),
    valueBytes: Number(f.valueBytes),
    keys: Number(f.keys),
    rounds: Number(f.rounds),
  };
  const results: RoundResult[] = [];
  for (let r = 0; r < o.rounds; r++) {
    for (const kind of ['netcd', 'etcd'] as const) {
      const res = await round(kind, o);
      results.push(res);
      process.stdout.write(
        `${kind.padEnd(6)} round ${r + 1}: ${res.requestsPerSecond.toFixed(0)} req/s, p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, max ${res.maxMs.toFixed(1)} ms, errors ${res.errors}\n`,
      );
    }
  }
  const of = (kind: ServerKind) => results.filter((x) => x.kind === kind);
  const n = of('netcd');
  const e = of('etcd');
  const row = (label: string, pick: (x: RoundResult) => number, digits: number) =>
    `| ${label} | ${mean(n.map(pick)).toFixed(digits)} | ${mean(e.map(pick)).toFixed(digits)} | ${(mean(n.map(pick)) / mean(e.map(pick))).toFixed(2)} |`;
  process.stdout.write(
    [
      '',
      `put, ${o.members} members, ${o.clients} clients over ${o.connections} connections, ${o.valueBytes}-byte values, ${o.keys} keys, ${o.requests} requests x ${o.rounds} rounds`,
      '',
      '| metric | netcd | etcd 3.4 | netcd / etcd |',
      '|---|---|---|---|',
      row('throughput (req/s)', (x) => x.requestsPerSecond, 0),
      row('p50 latency (ms)', (x) => x.p50Ms, 2),
      row('p99 latency (ms)', (x) => x.p99Ms, 2),
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`put-compare: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
