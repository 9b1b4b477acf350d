// Watch clients in the simulator: each watches a key range on some member, reconnects to another
// member when its member crashes (resuming from the revision after the last one it saw), and at
// the end its stream is checked against the final history: ordered, unique, complete (no gap),
// and atomic (a revision's events always arrive in one response).

import type { WatchHub } from '../../kv/watch/hub.js';
import type { WatchResponse } from '../../kv/watch/watcher.js';
import type { Prng } from '../../raft/prng.js';
import type { NodeId } from '../../raft/types.js';
import type { SimNode } from './node.js';
import type { Violation } from './safety.js';

interface Seen {
  readonly rev: number;
  readonly key: string;
  readonly type: string;
  readonly value: string;
}

interface SimWatcher {
  readonly id: number;
  readonly key: string;
  /** Undefined: the single key. */
  readonly rangeEnd: string | undefined;
  readonly firstRevision: number;
  node: NodeId | null;
  hub: WatchHub | null;
  nextRevision: number;
  readonly seen: Seen[];
  /** Revisions whose events came in more than one response (atomicity breaches). */
  readonly split: Set<number>;
  reconnects: number;
  failure: string | null;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Key ranges watched: a single key, a half-open range, and every key. */
const SHAPES: readonly [string, string | undefined][] = [
  ['x', undefined],
  ['x', 'z'],
  ['\u0001', '\u0000'],
];

export class WatchWorkload {
  private readonly watchers: SimWatcher[] = [];
  private readonly prng: Prng;
  private readonly nodes: ReadonlyMap<NodeId, SimNode>;

  constructor(prng: Prng, nodes: ReadonlyMap<NodeId, SimNode>, count: number) {
    this.prng = prng;
    this.nodes = nodes;
    for (let i = 0; i < count; i++) {
      const [key, rangeEnd] = SHAPES[i % SHAPES.length]!;
      this.watchers.push({
        id: i + 1,
        key,
        rangeEnd,
        firstRevision: 1,
        node: null,
        hub: null,
        nextRevision: 1,
        seen: [],
        split: new Set(),
        reconnects: 0,
        failure: null,
      });
    }
  }

  /** Reconnects watchers whose member is gone, and lets every hub catch up lagging watchers. */
  maintain(): void {
    for (const w of this.watchers) {
      if (w.failure !== null) continue;
      const n = w.node === null ? undefined : this.nodes.get(w.node);
      if (n === undefined || !n.up || n.hub !== w.hub) this.attach(w);
    }
    for (const n of this.nodes.values()) if (n.up) n.hub.syncUnsynced();
  }

  private attach(w: SimWatcher): void {
    const up = [...this.nodes.values()].filter((n) => n.up);
    if (up.length === 0) {
      w.node = null;
      w.hub = null;
      return;
    }
    const n = this.prng.pick(up);
    w.node = n.id;
    w.hub = n.hub;
    if (w.seen.length > 0 || w.reconnects > 0) w.reconnects++;
    else w.reconnects = 1;
    const hub = n.hub;
    hub.watch(
      {
        key: enc.encode(w.key),
        ...(w.rangeEnd === undefined ? {} : { rangeEnd: enc.encode(w.rangeEnd) }),
        startRevision: w.nextRevision,
      },
      (resp) => this.receive(w, hub, resp),
    );
  }

  private receive(w: SimWatcher, hub: WatchHub, resp: WatchResponse): void {
    if (w.hub !== hub) return;
    if (resp.compactRevision !== undefined && resp.compactRevision > 0) {
      w.failure = `compacted at ${resp.compactRevision} while resuming from ${w.nextRevision}`;
      return;
    }
    // Events arrive in revision order, so a revision split across responses shows up as this
    // response starting with the revision the previous one ended with.
    const first = resp.events[0];
    const previous = w.seen[w.seen.length - 1];
    if (first !== undefined && previous !== undefined && first.kv.modRevision === previous.rev)
      w.split.add(previous.rev);
    for (const e of resp.events) {
      const rev = e.kv.modRevision;
      w.seen.push({ rev, key: dec.decode(e.kv.key), type: e.type, value: dec.decode(e.kv.value) });
      w.nextRevision = rev + 1;
    }
  }

  /** Checks every stream against the history held by the member that applied the most. */
  check(atMs: number, reference: SimNode): Violation[] {
    const store = reference.app.machine.store;
    const out: Violation[] = [];
    for (const w of this.watchers) {
      if (w.failure !== null) {
        out.push({ property: 'watch', atMs, detail: `watcher ${w.id}: ${w.failure}` });
        continue;
      }
      if (w.seen.length === 0) continue;
      const last = w.seen[w.seen.length - 1]!.rev;
      const expected = store
        .eventsBetween(
          w.firstRevision,
          last,
          enc.encode(w.key),
          w.rangeEnd === undefined ? undefined : enc.encode(w.rangeEnd),
          Number.MAX_SAFE_INTEGER,
          false,
        )
        .map((e) => ({
          rev: e.kv.modRevision,
          key: dec.decode(e.kv.key),
          type: e.type,
          value: dec.decode(e.kv.value),
        }));
      const got = JSON.stringify(w.seen);
      const want = JSON.stringify(expected);
      if (got !== want) {
        const at = w.seen.findIndex((s, i) => JSON.stringify(s) !== JSON.stringify(expected[i]));
        out.push({
          property: 'watch',
          atMs,
          detail: `watcher ${w.id} on [${w.key}, ${w.rangeEnd ?? '(single)'}) after ${w.reconnects} connects: first difference at event ${at}: got ${JSON.stringify(w.seen[at])}, want ${JSON.stringify(expected[at])} (${w.seen.length} seen, ${expected.length} expected)`,
        });
      } else if (w.split.size > 0) {
        out.push({
          property: 'watch',
          atMs,
          detail: `watcher ${w.id}: revisions split across responses: ${[...w.split].slice(0, 5).join(',')}`,
        });
      }
    }
    return out;
  }

  eventsDelivered(): number {
    return this.watchers.reduce((n, w) => n + w.seen.length, 0);
  }
}
