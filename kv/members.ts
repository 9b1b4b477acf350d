// The cluster's membership as replicated state: who the members are (ids, peer and client URLs,
// names, learner or voter) and which ids were removed for good. Changed only by applied log
// entries (conf changes and member attribute updates), so every member holds the same list at the
// same index; persisted with the rest of the state machine in one atomic backend batch.

import { Packr } from 'msgpackr';
import { KvError } from './errors.js';

export interface MemberRecord {
  readonly id: number;
  /** Empty until the member publishes its attributes after starting. */
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

/** What a conf change entry carries about the member it adds (its context). */
export interface MemberContext {
  readonly peerURLs: readonly string[];
  readonly name?: string;
  /** Lets the proposer recognise its own change when it applies. */
  readonly requestId: string;
}

export type MembershipChange =
  | { readonly kind: 'add'; readonly id: number; readonly learner: boolean; readonly context: MemberContext }
  | { readonly kind: 'promote'; readonly id: number }
  | { readonly kind: 'remove'; readonly id: number };

const packr = new Packr({ useRecords: false, moreTypes: false });

type MemberTuple = [id: number, name: string, peerURLs: string[], clientURLs: string[], learner: boolean];

export class ClusterMembers {
  clusterId = 0;
  private readonly byId = new Map<number, MemberRecord>();
  private readonly removedIds = new Set<number>();

  get size(): number {
    return this.byId.size;
  }

  list(): MemberRecord[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  get(id: number): MemberRecord | undefined {
    return this.byId.get(id);
  }

  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  /** Sets the bootstrap membership of a new cluster (identical on every founding member). */
  bootstrap(clusterId: number, members: readonly MemberRecord[]): void {
    this.clusterId = clusterId;
    this.byId.clear();
    this.removedIds.clear();
    for (const m of members) this.byId.set(m.id, m);
  }

  /** Applies a committed conf change. Re-applying one is harmless (replay after restart). */
  apply(change: MembershipChange): void {
    if (change.kind === 'add') {
      const existing = this.byId.get(change.id);
      this.byId.set(change.id, {
        id: change.id,
        name: change.context.name ?? existing?.name ?? '',
        peerURLs: [...change.context.peerURLs],
        clientURLs: existing?.clientURLs ?? [],
        isLearner: change.learner,
      });
    } else if (change.kind === 'promote') {
      const m = this.byId.get(change.id);
      if (m !== undefined) this.byId.set(change.id, { ...m, isLearner: false });
    } else {
      this.byId.delete(change.id);
      this.removedIds.add(change.id);
    }
  }

  /** A member's name and client URLs, published by itself once it runs. */
  publish(id: number, name: string, clientURLs: readonly string[]): void {
    const m = this.byId.get(id);
    if (m !== undefined) this.byId.set(id, { ...m, name, clientURLs: [...clientURLs] });
  }

  /** MemberUpdate: new peer URLs for a member. */
  updatePeerURLs(id: number, peerURLs: readonly string[]): void {
    const m = this.byId.get(id);
    if (m === undefined) throw new KvError('BAD_REQUEST', `member ${id.toString(16)} not found`);
    this.byId.set(id, { ...m, peerURLs: [...peerURLs] });
  }

  encode(): Uint8Array {
    const members: MemberTuple[] = this.list().map((m) => [
      m.id,
      m.name,
      [...m.peerURLs],
      [...m.clientURLs],
      m.isLearner,
    ]);
    return packr.pack({ c: this.clusterId, m: members, r: [...this.removedIds].sort((a, b) => a - b) });
  }

  static decode(bytes: Uint8Array): ClusterMembers {
    const o = packr.unpack(bytes) as { c?: unknown; m?: unknown; r?: unknown };
    if (typeof o.c !== 'number' || !Array.isArray(o.m) || !Array.isArray(o.r))
      throw new KvError('CORRUPT', 'bad membership record');
    const out = new ClusterMembers();
    out.clusterId = o.c;
    for (const t of o.m as MemberTuple[]) {
      const [id, name, peerURLs, clientURLs, isLearner] = t;
      out.byId.set(id, { id, name, peerURLs, clientURLs, isLearner });
    }
    for (const id of o.r as number[]) out.removedIds.add(id);
    return out;
  }
}

export function encodeMemberContext(c: MemberContext): Uint8Array {
  return packr.pack(c);
}

export function decodeMemberContext(bytes: Uint8Array): MemberContext {
  if (bytes.length === 0) return { peerURLs: [], requestId: '' };
  const o = packr.unpack(bytes) as Partial<MemberContext>;
  if (!Array.isArray(o.peerURLs) || typeof o.requestId !== 'string')
    throw new KvError('CORRUPT', 'bad member context');
  return o as MemberContext;
}
