// The public surface of the client library.

export type { AlarmMember, AlarmType, HashKV, Member, MembersResult, Status } from './cluster.js';
export type { CallOptions, ConnectionOptions, TlsFiles } from './connections.js';
export type { LeaderKey, Leadership } from './election.js';
export { EndpointError } from './endpoints.js';
export { CompactedError, LeaseLostError, NetcdError, type Outcome } from './errors.js';
export { Informer, type InformerEvent, type InformerOptions } from './informer.js';
export type { DeleteOptions, DeleteResult, GetOptions, GetResult, PutOptions, PutResult } from './kv.js';
export type { Lease, LeaseOptions, TimeToLive } from './lease.js';
export type { Lock, LockOptions } from './lock.js';
export { Netcd, type NetcdOptions } from './netcd.js';
export { compare, type Op, op, type TxnResult } from './txn.js';
export type { Watch, WatchBatch, WatchEvent, WatchOptions } from './watch.js';
export type { KeyValue, ResponseHeader } from './wire.js';
