// A test worker: runs a plan of IPAM operations as one node, in its own process, and prints one
// JSON line per operation with when it was invoked and completed and how it ended — ok, fail
// (certainly not done) or unknown (may have been done). The property test in ../ipam.property.test.ts
// runs several of these against a cluster whose members it kills.
//
// Usage: node worker.js '<json plan>'

import { NetcdError } from '../../errors.js';
import { Netcd } from '../../netcd.js';
import { Ipam, IpamError } from '../ipam.js';

export interface WorkerPlan {
  readonly endpoints: readonly string[];
  readonly root: string;
  readonly node: string;
  readonly pools: readonly string[];
  readonly ops: readonly { readonly op: 'alloc' | 'release'; readonly container: string }[];
}

export interface WorkerRecord {
  readonly op: 'alloc' | 'release';
  readonly container: string;
  readonly invoked: number;
  readonly completed: number;
  readonly outcome: 'ok' | 'fail' | 'unknown';
  readonly address?: string;
  readonly error?: string;
}

function outcomeOf(err: unknown): 'fail' | 'unknown' {
  if (err instanceof IpamError) return err.code === 'CONFLICT' ? 'unknown' : 'fail';
  if (err instanceof NetcdError) return err.outcome === 'not-applied' ? 'fail' : 'unknown';
  return 'unknown';
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '{}') as WorkerPlan;
  const client = new Netcd({ endpoints: plan.endpoints, requestTimeoutMs: 4000, dialTimeoutMs: 500 });
  const ipam = new Ipam(client, { node: plan.node, root: plan.root, cooldownMs: 0 });
  for (const step of plan.ops) {
    const handle = { network: 'prop', containerId: step.container, ifname: 'eth0' };
    const invoked = Date.now();
    let rec: WorkerRecord;
    try {
      if (step.op === 'alloc') {
        const a = await ipam.allocate(handle, plan.pools);
        rec = { ...step, invoked, completed: Date.now(), outcome: 'ok', address: a.address };
      } else {
        await ipam.release(handle);
        rec = { ...step, invoked, completed: Date.now(), outcome: 'ok' };
      }
    } catch (err) {
      rec = {
        ...step,
        invoked,
        completed: Date.now(),
        outcome: outcomeOf(err),
        error: (err as Error).message,
      };
    }
    process.stdout.write(`${JSON.stringify(rec)}\n`);
  }
  client.close();
}

await main();
