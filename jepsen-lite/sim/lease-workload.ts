// Leases in the simulator: each leader runs the real leader-side expiry (checkpoints and
// rate-bounded revokes, only while a quorum answers), and lease clients grant leases and keep them
// alive. The property checked: a lease is never revoked before the last moment a client was
// promised it — the send time of its latest acknowledged keep-alive (or grant) plus the TTL.

import { isKvError } from '../../kv/errors.js';
import { LeaseExpiry } from '../../kv/lease/expiry.js';
import type { LeaseTable } from '../../kv/lease/lessor.js';
import { encodeEnvelope, type KvRequest } from '../../kv/request.js';
import type { Prng } from '../../raft/prng.js';
import type { NodeId } from '../../raft/types.js';
import type { Completion } from './kv-app.js';
import type { SimNode } from './node.js';
import type { Violation } from './safety.js';

/** Lease client ids start here (register clients use small ids). */
export const LEASE_CLIENT_BASE = 2000;
const TTL_SECONDS = 2;
const KEEPALIVE_EVERY_MS = 400;

interface LeaseClient {
  readonly id: number;
  seq: number;
  target: NodeId;
  lease: number;
  /** When the grant request was sent (its promise starts then); 0 when none is pending. */
  grantSentMs: number;
  /** Keep-alives stop after this time, so leases also expire in each run. */
  readonly stopMs: number;
}

interface HeldRenewal {
  readonly lease: number;
  readonly sentMs: number;
}

export interface LeaseHost {
  nowMs(): number;
  readonly prng: Prng;
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  /** Proposes on `node`; returns false if raft dropped it. */
  propose(node: SimNode, data: Uint8Array): boolean;
}

export class LeaseWorkload {
  private readonly host: LeaseHost;
  private readonly clients: LeaseClient[] = [];
  /** Per lease: the latest moment a client was promised it is alive. */
  private readonly promisedUntil = new Map<number, number>();
  private readonly revokedAt = new Map<number, number>();
  /** Per member: renewals acknowledged only once a checkpoint it proposes afterwards applies. */
  private readonly held = new Map<NodeId, HeldRenewal[]>();
  /** Per member: its checkpoint proposals, by request id, with their proposal time. */
  private readonly proposedCheckpoints = new Map<string, number>();
  private proposals = 0;
  readonly violations: Violation[] = [];
  keepAlivesAcked = 0;
  granted = 0;
  revoked = 0;

  constructor(host: LeaseHost, clients: number, horizonMs: number) {
    this.host = host;
    const ids = [...host.nodes.keys()];
    for (let c = 0; c < clients; c++) {
      this.clients.push({
        id: LEASE_CLIENT_BASE + c + 1,
        seq: 0,
        target: host.prng.pick(ids),
        lease: 0,
        grantSentMs: 0,
        stopMs: host.prng.int(horizonMs),
      });
    }
  }

  private expiry(n: SimNode): LeaseExpiry {
    if (n.leaseExpiry === null) n.leaseExpiry = new LeaseExpiry({ now: () => this.host.nowMs() });
    return n.leaseExpiry;
  }

  /** Leader duties on each tick: take over leases, checkpoint them, and revoke expired ones. */
  leaderTick(n: SimNode): void {
    const raw = n.raw!;
    const r = raw.raft;
    const ex = this.expiry(n);
    if (r.state !== 'leader') {
      if (ex.leading) ex.stepDown();
      return;
    }
    // Take over once an entry of this term is applied: the table then holds every checkpoint.
    if (!ex.leading) {
      if (r.log.zeroTermOnError(r.log.applied) !== r.term) return;
      ex.becomeLeader(n.app.machine.leases as LeaseTable, this.host.nowMs());
    }
    const now = this.host.nowMs();
    const checkpoints = ex.dueCheckpoints(now);
    if (checkpoints.length > 0) {
      const requestId = `cp:${n.id}:${this.proposals++}`;
      if (this.propose(n, requestId, { leaseCheckpoint: { checkpoints } }))
        this.proposedCheckpoints.set(requestId, now);
    }
    const batch = ex.expired(now, { canRevoke: r.quorumActiveWithin(r.electionTicks) });
    if (batch.revoke.length > 0)
      this.propose(n, `ex:${n.id}:${this.proposals++}`, { leaseExpire: { ids: batch.revoke } });
  }

  private propose(n: SimNode, requestId: string, request: KvRequest): boolean {
    return this.host.propose(n, encodeEnvelope({ requestId, request }));
  }

  /** Every applied entry on every member: lease effects and client completions. */
  onApplied(n: SimNode, done: Completion): void {
    const now = this.host.nowMs();
    const ex = n.leaseExpiry;
    if (done.granted !== undefined) ex?.granted(done.granted, now);
    for (const id of done.revoked ?? []) {
      ex?.revoked(id);
      if (!this.revokedAt.has(id)) {
        this.revokedAt.set(id, now);
        this.revoked++;
        const promised = this.promisedUntil.get(id) ?? 0;
        if (now < promised) {
          this.violations.push({
            property: 'lease-safety',
            atMs: now,
            detail: `lease ${id} revoked at ${now}ms though a client was promised it until ${promised}ms`,
          });
        }
      }
    }
    if (done.checkpointed !== undefined) {
      const proposedAt = this.proposedCheckpoints.get(done.requestId);
      if (proposedAt !== undefined) this.confirmHeld(n.id, proposedAt, done.checkpointed);
    }
    const c = this.clients[done.client - LEASE_CLIENT_BASE - 1];
    if (c !== undefined && done.granted !== undefined && done.granted === c.lease && c.grantSentMs > 0) {
      this.promise(c.lease, c.grantSentMs + TTL_SECONDS * 1000);
      c.grantSentMs = 0;
      this.granted++;
    }
  }

  private confirmHeld(node: NodeId, proposedAt: number, ids: readonly number[]): void {
    const list = this.held.get(node) ?? [];
    const keep: HeldRenewal[] = [];
    for (const h of list) {
      if (h.sentMs <= proposedAt && ids.includes(h.lease))
        this.promise(h.lease, h.sentMs + TTL_SECONDS * 1000);
      else keep.push(h);
    }
    this.held.set(node, keep);
  }

  private promise(lease: number, untilMs: number): void {
    if (this.revokedAt.has(lease)) return;
    this.promisedUntil.set(lease, Math.max(this.promisedUntil.get(lease) ?? 0, untilMs));
  }

  /** A lease client's turn: grant a lease if it has none, else send a keep-alive. */
  clientTurn(clientIndex: number): number {
    const c = this.clients[clientIndex]!;
    const now = this.host.nowMs();
    const n = this.host.nodes.get(c.target)!;
    const retarget = (): void => {
      const lead = n.raw?.raft.lead ?? 0;
      c.target = lead !== 0 ? lead : this.host.prng.pick([...this.host.nodes.keys()]);
    };
    if (n.raw === null) {
      retarget();
      return KEEPALIVE_EVERY_MS;
    }
    if (c.lease === 0 || this.revokedAt.has(c.lease)) {
      if (now >= c.stopMs) return KEEPALIVE_EVERY_MS;
      c.seq++;
      c.lease = c.id * 1000 + c.seq;
      c.grantSentMs = now;
      const sent = this.propose(n, `${c.id}:${c.seq}`, {
        leaseGrant: { id: c.lease, ttlSeconds: TTL_SECONDS },
      });
      if (!sent) retarget();
      return KEEPALIVE_EVERY_MS;
    }
    if (now >= c.stopMs) return KEEPALIVE_EVERY_MS;
    const ex = n.leaseExpiry;
    if (ex === null || !ex.leading) {
      retarget();
      return KEEPALIVE_EVERY_MS / 4;
    }
    try {
      ex.keepAlive(c.lease, now);
    } catch (err) {
      if (!isKvError(err)) throw err;
      if (err.code === 'LEASE_NOT_FOUND') c.lease = 0;
      else retarget();
      return KEEPALIVE_EVERY_MS / 4;
    }
    this.keepAlivesAcked++;
    if (ex.renewalPending(c.lease)) {
      // The reply waits until a checkpoint carrying this renewal is applied.
      const list = this.held.get(n.id) ?? [];
      list.push({ lease: c.lease, sentMs: now });
      this.held.set(n.id, list);
    } else {
      this.promise(c.lease, now + TTL_SECONDS * 1000);
    }
    return KEEPALIVE_EVERY_MS;
  }

  get clientCount(): number {
    return this.clients.length;
  }

  /** A member lost its memory (crash): its leader state and held replies are gone. */
  forget(n: SimNode): void {
    n.leaseExpiry = null;
    this.held.delete(n.id);
  }
}
