// The simulator's replicated application: netcd's real kv state machine (MVCC store and lease
// table) behind the register workload's vocabulary. A put is a Put; a compare-and-swap is a Txn
// comparing the value (or, for "absent", the version 0); a read is a Range on the local store.

import { LeaseTable } from '../../kv/lease/lessor.js';
import { decodeEnvelope, encodeEnvelope, type KvRequest } from '../../kv/request.js';
import { type ApplyResult, KvStateMachine } from '../../kv/state-machine.js';
import { connectWatchHub, storeWatchSource, WatchHub } from '../../kv/watch/index.js';

export type WorkloadOp =
  | {
      readonly op: 'put';
      readonly client: number;
      readonly seq: number;
      readonly key: string;
      readonly value: string;
    }
  | {
      readonly op: 'cas';
      readonly client: number;
      readonly seq: number;
      readonly key: string;
      readonly expect: string | null;
      readonly value: string;
    };

export interface Completion {
  readonly client: number;
  readonly seq: number;
  /** For cas: whether the compare held. */
  readonly swapped?: boolean;
  /** Canonical text of the apply result, compared across members at the same index. */
  readonly digest: string;
  readonly requestId: string;
  /** Lease granted by this entry. */
  readonly granted?: number;
  /** Leases revoked by this entry. */
  readonly revoked?: readonly number[];
  /** Lease ids whose remaining TTL this entry checkpointed. */
  readonly checkpointed?: readonly number[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function leaseTable(snapshot: Uint8Array | null): LeaseTable {
  return snapshot === null ? new LeaseTable() : LeaseTable.restore(snapshot);
}

export function encodeOp(o: WorkloadOp): Uint8Array {
  const key = enc.encode(o.key);
  const put = { key, value: enc.encode(o.value) };
  const request: KvRequest =
    o.op === 'put'
      ? { put }
      : {
          txn: {
            compare: [
              o.expect === null
                ? { key, target: 'version', result: 'equal', version: 0 }
                : { key, target: 'value', result: 'equal', value: enc.encode(o.expect) },
            ],
            success: [{ put }],
            failure: [],
          },
        };
  return encodeEnvelope({ requestId: `${o.client}:${o.seq}`, request });
}

export class KvApp {
  readonly machine: KvStateMachine;

  private constructor(machine: KvStateMachine) {
    this.machine = machine;
  }

  static create(snapshot: Uint8Array | null): KvApp {
    const machine = new KvStateMachine(leaseTable);
    if (snapshot !== null && snapshot.length > 0) machine.restore(snapshot);
    return new KvApp(machine);
  }

  /** Applies a committed normal entry; returns who was waiting for it, if anyone. */
  apply(index: number, data: Uint8Array): Completion | null {
    const r = this.machine.apply(index, data);
    if (r === null) return null;
    const [client, seq] = r.requestId.split(':').map(Number);
    return {
      client: client ?? 0,
      seq: seq ?? 0,
      requestId: r.requestId,
      ...swappedOf(r),
      ...leaseEffects(r, data),
      digest: digest(r),
    };
  }

  read(key: string): string | null {
    const kv = this.machine.store.range({ key: enc.encode(key) }).kvs[0];
    return kv === undefined ? null : dec.decode(kv.value);
  }

  snapshot(): Uint8Array {
    return this.machine.snapshot();
  }

  restore(snapshot: Uint8Array): void {
    this.machine.restore(snapshot);
  }

  /** A watch hub over this member's store, fed by every commit from now on. */
  newWatchHub(): WatchHub {
    const hub = new WatchHub(storeWatchSource(this.machine.store));
    connectWatchHub(this.machine.store, hub);
    return hub;
  }

  stateHash(): number {
    return this.machine.hash();
  }
}

function swappedOf(r: ApplyResult): { swapped?: boolean } {
  return r.ok && 'txn' in r.response ? { swapped: r.response.txn.succeeded } : {};
}

function leaseEffects(
  r: ApplyResult,
  data: Uint8Array,
): Pick<Completion, 'granted' | 'revoked' | 'checkpointed'> {
  if (!r.ok) return {};
  const res = r.response;
  if ('leaseGrant' in res) return { granted: res.leaseGrant.id };
  if ('leaseRevoke' in res) return { revoked: [res.leaseRevoke.id] };
  if ('leaseExpire' in res) return { revoked: res.leaseExpire.revoked };
  if ('leaseCheckpoint' in res) {
    const req = decodeEnvelope(data).request;
    return 'leaseCheckpoint' in req ? { checkpointed: req.leaseCheckpoint.checkpoints.map((c) => c.id) } : {};
  }
  return {};
}

function digest(r: ApplyResult): string {
  return JSON.stringify(r, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  );
}
