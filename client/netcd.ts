// The client: `new Netcd({ endpoints })`, then KV, txn, watch, leases, locks, elections and
// informers over one gRPC channel per member. Works against netcd and etcd alike (it speaks
// only the etcd v3 wire API).

import { ClusterApi } from './cluster.js';
import { type CallOptions, type ConnectionOptions, Connections } from './connections.js';
import { type CampaignOptions, campaign, currentLeader, type Leadership, observe } from './election.js';
import { Informer, type InformerOptions } from './informer.js';
import {
  type DeleteOptions,
  type DeleteResult,
  deleteRequest,
  deleteResult,
  type GetOptions,
  type GetResult,
  getResult,
  type PutOptions,
  type PutResult,
  putRequest,
  putResult,
  rangeRequest,
  type WireDeleteResponse,
  type WirePutResponse,
  type WireRangeResponse,
} from './kv.js';
import {
  grantLease,
  type Lease,
  type LeaseOptions,
  leaseTimeToLive,
  revokeLease,
  type TimeToLive,
} from './lease.js';
import { acquireLock, type Lock, type LockOptions } from './lock.js';
import {
  TxnBuilder,
  type TxnResult,
  type TxnSpec,
  txnRequest,
  txnResult,
  txnWrites,
  type WireTxnResponse,
} from './txn.js';
import { Watch, type WatchOptions } from './watch.js';
import {
  type Bytes,
  header,
  type KeyValue,
  type ResponseHeader,
  toId,
  type WireHeader,
  type WireInt,
} from './wire.js';

export type NetcdOptions = ConnectionOptions;

export class Netcd {
  private readonly conns: Connections;
  readonly cluster: ClusterApi;

  constructor(o: NetcdOptions) {
    this.conns = new Connections(o);
    this.cluster = new ClusterApi(this.conns);
  }

  /** The endpoints as parsed (`host:port` targets), in the order given. */
  get endpoints(): readonly string[] {
    return this.conns.endpoints.map((e) => e.target);
  }

  async get(key: Bytes, o: GetOptions & CallOptions = {}): Promise<GetResult> {
    const res = await this.conns.unary<WireRangeResponse>('KV', 'Range', rangeRequest(key, o), {
      ...o,
      idempotent: true,
    });
    return getResult(res);
  }

  /** The value of one key, or undefined. */
  async getValue(key: Bytes, o: CallOptions = {}): Promise<Buffer | undefined> {
    return (await this.get(key, o)).kvs[0]?.value;
  }

  async put(key: Bytes, value: Bytes, o: PutOptions & CallOptions = {}): Promise<PutResult> {
    const res = await this.conns.unary<WirePutResponse>('KV', 'Put', putRequest(key, value, o), {
      ...o,
      idempotent: false,
    });
    return putResult(res);
  }

  async delete(key: Bytes, o: DeleteOptions & CallOptions = {}): Promise<DeleteResult> {
    const res = await this.conns.unary<WireDeleteResponse>('KV', 'DeleteRange', deleteRequest(key, o), {
      ...o,
      idempotent: false,
    });
    return deleteResult(res);
  }

  /** `client.txn().if(compare...).onSuccess(op...).onFailure(op...).commit()`. */
  txn(o: CallOptions = {}): TxnBuilder {
    return new TxnBuilder((spec) => this.commitTxn(spec, o));
  }

  async commitTxn(spec: TxnSpec, o: CallOptions = {}): Promise<TxnResult> {
    const res = await this.conns.unary<WireTxnResponse>('KV', 'Txn', txnRequest(spec), {
      ...o,
      idempotent: !txnWrites(spec),
    });
    return txnResult(res);
  }

  async compact(
    revision: number,
    o: CallOptions & { readonly physical?: boolean } = {},
  ): Promise<ResponseHeader> {
    const res = await this.conns.unary<{ header: WireHeader }>(
      'KV',
      'Compact',
      { revision, physical: o.physical ?? false },
      { ...o, idempotent: true },
    );
    return header(res.header);
  }

  watch(key: Bytes, o: WatchOptions = {}): Watch {
    return new Watch(this.conns, key, o);
  }

  /** Grants a lease and keeps it alive (unless `keepAlive: false`). */
  grantLease(ttlSeconds: number, o: LeaseOptions = {}): Promise<Lease> {
    return grantLease(this.conns, ttlSeconds, o);
  }

  revokeLease(id: bigint, o: CallOptions = {}): Promise<ResponseHeader> {
    return revokeLease(this.conns, id, o);
  }

  leaseTimeToLive(id: bigint, o: CallOptions & { readonly keys?: boolean } = {}): Promise<TimeToLive> {
    return leaseTimeToLive(this.conns, id, o);
  }

  async leases(o: CallOptions = {}): Promise<readonly bigint[]> {
    const res = await this.conns.unary<{ leases: { ID: WireInt }[] }>(
      'Lease',
      'LeaseLeases',
      {},
      {
        ...o,
        idempotent: true,
      },
    );
    return res.leases.map((l) => toId(l.ID));
  }

  /** Waits for and takes the named lock; see client/lock.ts for the fencing token. */
  lock(name: Bytes, o: LockOptions = {}): Promise<Lock> {
    return acquireLock(this.conns, name, o);
  }

  campaign(name: Bytes, value: Bytes, o: CampaignOptions = {}): Promise<Leadership> {
    return campaign(this.conns, name, value, o);
  }

  leader(name: Bytes, o: CallOptions = {}): Promise<KeyValue | undefined> {
    return currentLeader(this.conns, name, o);
  }

  observe(name: Bytes, o: { readonly signal?: AbortSignal } = {}): AsyncGenerator<KeyValue> {
    return observe(this.conns, name, o);
  }

  /** A list+watch cache of a prefix; call `run()` to start it. */
  informer<T = string>(o: InformerOptions<T>): Informer<T> {
    return new Informer<T>(this, o);
  }

  /** Closes every connection; calls in flight fail. */
  close(): void {
    this.conns.close();
  }
}
