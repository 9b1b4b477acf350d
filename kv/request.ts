// The requests replicated through raft: one per normal log entry, encoded with msgpackr. Reads
// are not here — linearizable reads use ReadIndex and run against the local store.

import { Packr } from 'msgpackr';
import { KvError } from './errors.js';
import type { CompactionRequest, DeleteRangeRequest, PutRequest, TxnRequest } from './types.js';

export type AlarmType = 'NOSPACE' | 'CORRUPT';

export type KvRequest =
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest }
  | { readonly txn: TxnRequest }
  | { readonly compaction: CompactionRequest }
  /** One bounded step removing versions an earlier compaction made unreadable (proposed by the leader). */
  | { readonly compactStep: Record<string, never> }
  | { readonly leaseGrant: { readonly id: number; readonly ttlSeconds: number } }
  | { readonly leaseRevoke: { readonly id: number } }
  /** The leader's batch of expired leases: each revoked in its own revision; ones already gone are skipped. */
  | { readonly leaseExpire: { readonly ids: readonly number[] } }
  | {
      readonly leaseCheckpoint: {
        readonly checkpoints: readonly { readonly id: number; readonly remainingMs: number }[];
      };
    }
  /** A member's name and client URLs, published by itself after it starts. */
  | {
      readonly memberPublish: {
        readonly id: number;
        readonly name: string;
        readonly clientURLs: readonly string[];
      };
    }
  | { readonly memberUpdate: { readonly id: number; readonly peerURLs: readonly string[] } }
  | {
      readonly alarm: {
        readonly action: 'activate' | 'deactivate';
        readonly memberId: number;
        readonly alarm: AlarmType;
      };
    };

export interface Envelope {
  /** Unique per proposer: lets the proposing member match the applied entry to its waiting caller. */
  readonly requestId: string;
  readonly request: KvRequest;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeEnvelope(e: Envelope): Uint8Array {
  return packr.pack(e);
}

const KINDS = [
  'put',
  'deleteRange',
  'txn',
  'compaction',
  'compactStep',
  'leaseGrant',
  'leaseRevoke',
  'leaseExpire',
  'leaseCheckpoint',
  'alarm',
  'memberPublish',
  'memberUpdate',
] as const;

export function decodeEnvelope(data: Uint8Array): Envelope {
  let e: unknown;
  try {
    e = packr.unpack(data);
  } catch {
    throw new KvError('CORRUPT', 'undecodable log entry');
  }
  const o = e as { requestId?: unknown; request?: Record<string, unknown> };
  if (typeof o.requestId !== 'string' || typeof o.request !== 'object' || o.request === null) {
    throw new KvError('CORRUPT', 'malformed log entry');
  }
  const kinds = Object.keys(o.request);
  if (kinds.length !== 1 || !(KINDS as readonly string[]).includes(kinds[0]!))
    throw new KvError('CORRUPT', 'unknown request kind');
  return e as Envelope;
}

export function requestKind(r: KvRequest): (typeof KINDS)[number] {
  return Object.keys(r)[0] as (typeof KINDS)[number];
}
