// An in-memory WatchSource for tests: a log of events per revision over latin1 string keys. It
// holds the hub to the contract: a read below the compact revision or past the current one throws.
// `overshoot` finishes the revision that crosses maxEvents instead of stopping before it.

import { inInterval, keyBytes, keyInterval, keyString } from '../../keys.js';
import type { Bytes, Event, KeyValue } from '../../types.js';
import type { WatchSource } from '../source.js';

export type FakeOp = { readonly put: string; readonly value?: string } | { readonly del: string };

const EMPTY = new Uint8Array(0);

export class FakeSource implements WatchSource {
  current = 1;
  /** As MvccStore: -1 until the first compaction (etcd). */
  compacted = -1;
  reads = 0;
  private readonly overshoot: boolean;
  /** Index = revision. Events keep prevKv; reads strip it when not asked for. */
  private readonly log: Event[][] = [];
  private readonly live = new Map<string, KeyValue>();

  constructor(options: { overshoot?: boolean } = {}) {
    this.overshoot = options.overshoot === true;
  }

  /** Applies one txn; returns its events (with prevKv), or [] when it changed nothing. */
  write(ops: readonly FakeOp[]): Event[] {
    const revision = this.current + 1;
    const events: Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.live.get(op.put);
        const kv: KeyValue = {
          key: keyBytes(op.put),
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0) + 1,
          value: keyBytes(op.value ?? `${op.put}@${revision}`),
          lease: 0,
        };
        this.live.set(op.put, kv);
        events.push({ type: 'put', kv, ...(prev === undefined ? {} : { prevKv: prev }) });
      } else {
        const prev = this.live.get(op.del);
        if (prev === undefined) continue;
        this.live.delete(op.del);
        const kv: KeyValue = {
          key: keyBytes(op.del),
          createRevision: 0,
          modRevision: revision,
          version: 0,
          value: EMPTY,
          lease: 0,
        };
        events.push({ type: 'delete', kv, prevKv: prev });
      }
    }
    if (events.length > 0) {
      this.current = revision;
      this.log[revision] = events;
    }
    return events;
  }

  compact(revision: number): void {
    if (revision > this.current) throw new Error(`compact ${revision} past current ${this.current}`);
    this.compacted = Math.max(this.compacted, revision);
  }

  /** Every event ever written, in order (the test's reference history). */
  history(): Event[] {
    return this.log.flatMap((evs) => evs ?? []);
  }

  currentRevision(): number {
    return this.current;
  }

  compactRevision(): number {
    return this.compacted;
  }

  eventsBetween(
    fromRevision: number,
    toRevision: number,
    key: Bytes,
    rangeEnd: Bytes | undefined,
    maxEvents: number,
    withPrevKv: boolean,
  ): Event[] {
    this.reads++;
    if (fromRevision < this.compacted) throw new Error(`read from ${fromRevision} below ${this.compacted}`);
    if (toRevision > this.current) throw new Error(`read to ${toRevision} past ${this.current}`);
    const iv = keyInterval(key, rangeEnd);
    const out: Event[] = [];
    for (let rev = fromRevision; rev <= toRevision; rev++) {
      const matching = (this.log[rev] ?? []).filter((ev) => inInterval(keyString(ev.kv.key), iv));
      if (matching.length === 0) continue;
      const fits = out.length + matching.length <= maxEvents;
      if (out.length > 0 && !fits && !this.overshoot) break;
      for (const ev of matching)
        out.push(withPrevKv || ev.prevKv === undefined ? ev : { type: ev.type, kv: ev.kv });
      if (out.length >= maxEvents) break;
    }
    return out;
  }
}
