// Pending ReadIndex requests on the leader. A read is served at the commit index recorded when
// it arrived, once a quorum has acknowledged a heartbeat carrying its context: that proves no
// newer leader existed when the read was accepted.

import type { Message, NodeId } from './types.js';

export type ReadOnlyOption = 'safe' | 'leaseBased';

export interface ReadIndexStatus {
  readonly req: Message;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

export const contextKey = (ctx: Uint8Array): string => {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
};

export class ReadOnly {
  readonly option: ReadOnlyOption;
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  addRequest(index: number, m: Message): void {
    const key = contextKey(m.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records a heartbeat ack for `context`; returns the acks so far (null if unknown). */
  recvAck(id: NodeId, context: Uint8Array): ReadonlyMap<NodeId, boolean> | null {
    const rs = this.pending.get(contextKey(context));
    if (rs === undefined) return null;
    rs.acks.add(id);
    return new Map([...rs.acks].map((a) => [a, true]));
  }

  /** Dequeues every request up to and including the one with `context`. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs !== undefined) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingRequestContext(): Uint8Array | null {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? null : this.pending.get(k)!.req.context;
  }
}
