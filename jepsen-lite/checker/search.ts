// The WGL search (Wing & Gong, with Lowe's memoisation as in Porcupine) for one register's history:
// finds an order of the ok ops, plus any of the unknown ones, that respects real time and the
// register's semantics, or proves there is none. Exact, except that it stops at its time and memory bounds.

import { invariant } from './errors.js';
import type { RegisterOp } from './history.js';

export interface SearchLimits {
  readonly now: () => number;
  /** On the `now` clock; past it the search gives up. */
  readonly deadline: number;
  readonly maxCacheBytes: number;
}

export interface Violation {
  readonly kind: 'violation';
  /** The deepest linearization the search reached, and the register's value after it. */
  readonly longestPrefix: readonly RegisterOp[];
  readonly stateAfterPrefix: string | null;
  /** Ops that took part in the search (unobserved unknown ops are pruned first). */
  readonly searched: readonly RegisterOp[];
}

export type SearchOutcome =
  | { readonly kind: 'linearizable' }
  | Violation
  | { readonly kind: 'aborted'; readonly reason: string };

const LINEARIZABLE: SearchOutcome = { kind: 'linearizable' };

// The model's transitions, on interned values: a state is the id of the register's value.
const STEP_READ = 0; // needs state === a; leaves it
const STEP_WRITE = 1; // sets a
const STEP_SWAP = 2; // needs state === a; sets b (ok cas that swapped, or unknown cas that took effect)
const STEP_KEEP = 3; // needs state !== a; leaves it (ok cas whose compare failed)
const NULL_ID = 0;
/** The clock is read once per this many search steps: often enough to stop on time, rarely enough to be free. */
const CLOCK_CHECK_INTERVAL_STEPS = 1024;
const NO_OBLIGATION = -1;

/**
 * A key's history compiled for the search. Ok ops must all be linearized and live in the entry list;
 * unknown ops may be linearized (at most once, any time after their call) or left out, and are
 * grouped into classes of ops with the very same transition, which can stand in for one another.
 */
interface Model {
  readonly ops: readonly RegisterOp[];
  readonly values: readonly (string | null)[];
  readonly step: Uint8Array;
  readonly argA: Int32Array;
  readonly argB: Int32Array;
  readonly required: Uint8Array;
  readonly requiredCount: number;
  /** Class of an unknown op; -1 for ok ops. */
  readonly classOf: Int32Array;
  /** Per class, its ops in call order; the search only ever linearizes a prefix of each. */
  readonly classMembers: readonly Int32Array[];
  /** Per class, the value it writes. */
  readonly classTo: Int32Array;
  /** Per class, the value a cas expects; -1 for writes. */
  readonly classFrom: Int32Array;
  readonly writeClasses: Int32Array;
  /** Per value id: the write class writing it (-1 if none), the cas classes swapping to and from it. */
  readonly writeClassTo: Int32Array;
  readonly swapClassesTo: readonly (readonly number[])[];
  readonly swapClassesFrom: readonly (readonly number[])[];
}

function compileModel(keyOps: readonly RegisterOp[]): Model {
  const ids = new Map<string | null, number>([[null, NULL_ID]]);
  const values: (string | null)[] = [null];
  const intern = (v: string | null | undefined): number => {
    invariant(v !== undefined, 'validated op lacks a value');
    let id = ids.get(v);
    if (id === undefined) {
      id = values.length;
      ids.set(v, id);
      values.push(v);
    }
    return id;
  };
  const ops = pruneUnobservedUnknowns(keyOps);
  const n = ops.length;
  const step = new Uint8Array(n);
  const argA = new Int32Array(n);
  const argB = new Int32Array(n);
  const required = new Uint8Array(n);
  const classOf = new Int32Array(n).fill(-1);
  const classIds = new Map<string, number>();
  const members: number[][] = [];
  let requiredCount = 0;
  ops.forEach((op, i) => {
    invariant(
      op.outcome !== 'fail' && !(op.outcome === 'unknown' && op.kind === 'read'),
      'op cannot take part',
    );
    if (op.kind === 'read') {
      step[i] = STEP_READ;
      argA[i] = intern(op.result);
    } else if (op.kind === 'write') {
      step[i] = STEP_WRITE;
      argA[i] = intern(op.value);
    } else {
      // An unknown cas that does not swap is indistinguishable from one that never ran, so the
      // only choice the search makes for it is whether (and where) it swapped.
      step[i] = op.outcome === 'ok' && op.casSwapped === false ? STEP_KEEP : STEP_SWAP;
      argA[i] = intern(op.expect);
      argB[i] = intern(op.value);
    }
    if (op.outcome === 'ok') {
      required[i] = 1;
      requiredCount++;
      return;
    }
    // A cas from a value to itself changes nothing, so a search never needs it.
    if (step[i] === STEP_SWAP && argA[i] === argB[i]) return;
    const signature = `${step[i]}:${argA[i]}:${argB[i]}`;
    let id = classIds.get(signature);
    if (id === undefined) {
      id = members.length;
      classIds.set(signature, id);
      members.push([]);
    }
    classOf[i] = id;
    members[id]!.push(i);
  });
  const classes = members.length;
  const classTo = new Int32Array(classes);
  const classFrom = new Int32Array(classes).fill(-1);
  const writeClassTo = new Int32Array(values.length).fill(-1);
  const swapClassesTo: number[][] = values.map(() => []);
  const swapClassesFrom: number[][] = values.map(() => []);
  const writeClasses: number[] = [];
  const classMembers = members.map((list, k) => {
    list.sort((x, y) => ops[x]!.invokeTime - ops[y]!.invokeTime || x - y);
    const first = list[0]!;
    if (step[first] === STEP_WRITE) {
      classTo[k] = argA[first]!;
      writeClassTo[argA[first]!] = k;
      writeClasses.push(k);
    } else {
      classFrom[k] = argA[first]!;
      classTo[k] = argB[first]!;
      swapClassesFrom[argA[first]!]!.push(k);
      swapClassesTo[argB[first]!]!.push(k);
    }
    return Int32Array.from(list);
  });
  return {
    ops,
    values,
    step,
    argA,
    argB,
    required,
    requiredCount,
    classOf,
    classMembers,
    classTo,
    classFrom,
    writeClasses: Int32Array.from(writeClasses),
    writeClassTo,
    swapClassesTo,
    swapClassesFrom,
  };
}

/**
 * Drops unknown writes and cas whose new value nobody could have observed: no ok read returned it,
 * no cas expected it, and no cas failed its compare. Any linearization that includes such an op stays
 * valid without it, because the next op after it is a write (nothing else can follow a value no one
 * observes), so leaving it out changes no verdict and saves the search from guessing about it.
 */
function pruneUnobservedUnknowns(keyOps: readonly RegisterOp[]): readonly RegisterOp[] {
  const observed = new Set<string | null>();
  for (const op of keyOps) {
    if (op.kind === 'cas' && op.outcome === 'ok' && op.casSwapped === false) return keyOps;
    if (op.kind === 'read' && op.outcome === 'ok') observed.add(op.result ?? null);
    if (op.kind === 'cas') observed.add(op.expect ?? null);
  }
  return keyOps.filter((op) => op.outcome === 'ok' || observed.has(op.value ?? null));
}

/**
 * The entry list of the ok ops: call and return events in time order, as a doubly-linked list (entry
 * 0 is the head sentinel, -1 ends it) so that linearizing an op removes both of its events in O(1)
 * and backtracking puts them back in LIFO order. Unknown ops return "at infinity", after every ok
 * op, so they need no entries: one is available once its call time is not after the first return left.
 */
interface EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly op: Int32Array;
  readonly time: Float64Array;
  /** For a call entry, its return entry; -1 for a return entry. */
  readonly returnOf: Int32Array;
}

function buildEntries(m: Model): EntryList {
  const events: { time: number; isReturn: number; op: number }[] = [];
  m.ops.forEach((o, i) => {
    if (m.required[i] === 0) return;
    events.push({ time: o.invokeTime, isReturn: 0, op: i });
    events.push({ time: o.completeTime, isReturn: 1, op: i });
  });
  // Calls sort before returns at equal times, which makes such ops concurrent (the weaker claim).
  events.sort((x, y) => x.time - y.time || x.isReturn - y.isReturn || x.op - y.op);
  const size = events.length + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const op = new Int32Array(size).fill(-1);
  const time = new Float64Array(size);
  const returnOf = new Int32Array(size).fill(-1);
  const callEntry = new Int32Array(m.ops.length);
  events.forEach((ev, i) => {
    const entry = i + 1;
    op[entry] = ev.op;
    time[entry] = ev.time;
    if (ev.isReturn === 1) returnOf[callEntry[ev.op]!] = entry;
    else callEntry[ev.op] = entry;
  });
  for (let e = 0; e < size; e++) {
    next[e] = e + 1 < size ? e + 1 : -1;
    prev[e] = e - 1;
  }
  return { next, prev, op, time, returnOf };
}

function unlink(list: EntryList, e: number): void {
  const p = list.prev[e]!;
  const nx = list.next[e]!;
  list.next[p] = nx;
  if (nx !== -1) list.prev[nx] = p;
}

function relink(list: EntryList, e: number): void {
  const p = list.prev[e]!;
  const nx = list.next[e]!;
  list.next[p] = e;
  if (nx !== -1) list.prev[nx] = e;
}

/**
 * The memo of visited search configurations (set of linearized ops, register state), recorded right
 * after an ok op. A new one is pruned when a visited one has the same state, the same ok ops and a
 * subset of its unknown ops: whatever the new one can still do, the visited one could too, by
 * leaving those unknown ops out. The hash covers only the ok ops and the state (Zobrist-style, a
 * fixed random word per op) so that such pairs share a bucket and the hash updates in O(1) per step.
 */
class VisitedSet {
  private readonly firstByHash = new Map<number, number>();
  private chain = new Int32Array(1024);
  private states = new Int32Array(1024);
  private bits: Uint32Array;
  private size = 0;

  constructor(
    private readonly words: number,
    private readonly requiredMask: Uint32Array,
  ) {
    this.bits = new Uint32Array(1024 * words);
  }

  get bytes(): number {
    return this.bits.byteLength + this.chain.byteLength + this.states.byteLength;
  }

  /** Records the configuration; false when a visited one covers it. */
  add(hash: number, set: Uint32Array, state: number): boolean {
    const words = this.words;
    for (let k = this.firstByHash.get(hash) ?? -1; k !== -1; k = this.chain[k]!) {
      if (this.states[k] !== state) continue;
      const base = k * words;
      let covered = true;
      for (let w = 0; w < words; w++) {
        const seen = this.bits[base + w]!;
        const now = set[w]!;
        if ((seen & ~now) !== 0 || (now & ~seen & this.requiredMask[w]!) !== 0) {
          covered = false;
          break;
        }
      }
      if (covered) return false;
    }
    if (this.size === this.states.length) this.grow();
    const k = this.size++;
    this.states[k] = state;
    this.bits.set(set, k * words);
    this.chain[k] = this.firstByHash.get(hash) ?? -1;
    this.firstByHash.set(hash, k);
    return true;
  }

  private grow(): void {
    const capacity = this.states.length * 2;
    const chain = new Int32Array(capacity);
    chain.set(this.chain);
    this.chain = chain;
    const states = new Int32Array(capacity);
    states.set(this.states);
    this.states = states;
    const bits = new Uint32Array(capacity * this.words);
    bits.set(this.bits);
    this.bits = bits;
  }
}

function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Depth-first search for a linearization. Each configuration first walks the entry list from the
 * front: a call whose op the model accepts is linearized (its events removed, the choice pushed)
 * unless the memo covers the result, and the walk restarts; the walk stops at the first return
 * left, since that op must precede everything after it. Then the unknown ops that could help are
 * tried; when none is left the last choice is undone and its walk resumes after it.
 *
 * Unknown ops are only tried in a normal form that loses no linearization: one that takes effect must
 * be used by the very next op (a read of its value, a cas expecting it, a failed cas that needed the
 * value it replaced), for otherwise it could be dropped (when a write follows) or moved later. So an
 * unknown op is tried only if an available op wants its value, directly or through a chain of unknown
 * cas ops, and after it only ops that use it may go; and of unknown ops with the same transition only
 * the earliest called one left is tried, since any of them could stand in for it.
 */
export function searchRegister(keyOps: readonly RegisterOp[], limits: SearchLimits): SearchOutcome {
  const m = compileModel(keyOps);
  const n = m.ops.length;
  if (m.requiredCount === 0) return LINEARIZABLE;
  const list = buildEntries(m);
  const { step, argA, argB, required, classOf, classMembers, classTo, classFrom } = m;
  const words = Math.ceil(n / 32);
  const linearized = new Uint32Array(words);
  const requiredMask = new Uint32Array(words);
  const opHash = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (required[i] === 0) continue;
    requiredMask[i >>> 5]! |= 1 << (i & 31);
    opHash[i] = mix32(i);
  }
  const visited = new VisitedSet(words, requiredMask);
  const nextInClass = new Int32Array(classMembers.length);

  // The stack of choices: the op, and what to restore when it is undone.
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackObligation = new Int32Array(n);
  const stackEntry = new Int32Array(n);
  const stackCandidates: Int32Array[] = [];
  const stackCandidateIndex = new Int32Array(n);
  let depth = 0;
  // The deepest linearization seen, for the report; `bestValid` is how much of it still matches the
  // stack, so extending it copies only what changed (amortised O(1) per step).
  const bestOps = new Int32Array(n);
  let bestDepth = 0;
  let bestValid = 0;
  let bestState = NULL_ID;

  let state = NULL_ID;
  // After an unknown op took effect: the state before it, which a failed cas may need; else -1.
  let obligation = NO_OBLIGATION;
  let setHash = 0;
  let requiredLeft = m.requiredCount;
  let entry = list.next[0]!;
  let candidates: Int32Array | null = null;
  let candidateIndex = 0;
  let steps = 0;

  const wantedStamp = new Int32Array(m.values.length);
  let wantedEpoch = 0;
  const wanted: number[] = [];
  const firstAvailable = (k: number, callTimeLimit: number): number => {
    const members = classMembers[k]!;
    const index = nextInClass[k]!;
    if (index >= members.length) return -1;
    const op = members[index]!;
    return m.ops[op]!.invokeTime <= callTimeLimit ? op : -1;
  };
  const want = (v: number): void => {
    if (v === state || wantedStamp[v] === wantedEpoch) return;
    wantedStamp[v] = wantedEpoch;
    wanted.push(v);
  };
  /** The unknown ops worth trying next, given that ops called after `callTimeLimit` must wait. */
  const unknownCandidates = (callTimeLimit: number): Int32Array => {
    const out: number[] = [];
    const pushFirst = (k: number): void => {
      const op = firstAvailable(k, callTimeLimit);
      if (op !== -1) out.push(op);
    };
    if (obligation !== NO_OBLIGATION) {
      for (const k of m.swapClassesFrom[state]!) pushFirst(k);
      return Int32Array.from(out);
    }
    wantedEpoch++;
    wanted.length = 0;
    let anyChange = false;
    for (let e = list.next[0]!; list.returnOf[e] !== -1; e = list.next[e]!) {
      const op = list.op[e]!;
      const a = argA[op]!;
      if (step[op] === STEP_READ || step[op] === STEP_SWAP) want(a);
      else if (step[op] === STEP_KEEP) {
        if (a === state) anyChange = true;
        else if (m.swapClassesFrom[a]!.some((k) => firstAvailable(k, callTimeLimit) !== -1)) want(a);
      }
    }
    for (let i = 0; i < wanted.length; i++) {
      for (const k of m.swapClassesTo[wanted[i]!]!) {
        if (firstAvailable(k, callTimeLimit) !== -1) want(classFrom[k]!);
      }
    }
    if (anyChange) {
      for (const k of m.writeClasses) if (classTo[k] !== state) pushFirst(k);
      for (const k of m.swapClassesFrom[state]!) pushFirst(k);
      return Int32Array.from(out);
    }
    for (const v of wanted) {
      const k = m.writeClassTo[v]!;
      if (k !== -1) pushFirst(k);
      for (const s of m.swapClassesTo[v]!) if (classFrom[s] === state) pushFirst(s);
    }
    return Int32Array.from(out);
  };

  for (;;) {
    if (requiredLeft === 0) return LINEARIZABLE;
    if (steps++ % CLOCK_CHECK_INTERVAL_STEPS === 0 && limits.now() > limits.deadline) {
      return { kind: 'aborted', reason: 'time budget exceeded' };
    }
    let op: number;
    let after: number;
    if (candidates === null) {
      // Every ok op left returns at a finite time, so the walk meets a return before the end.
      invariant(entry !== -1, 'entry list ran out with ok ops left');
      if (list.returnOf[entry] === -1) {
        candidates = unknownCandidates(list.time[entry]!);
        candidateIndex = 0;
        continue;
      }
      op = list.op[entry]!;
      const a = argA[op]!;
      switch (step[op]) {
        case STEP_READ:
          after = state === a ? state : -1;
          break;
        case STEP_WRITE:
          after = obligation === NO_OBLIGATION ? a : -1;
          break;
        case STEP_SWAP:
          after = state === a ? argB[op]! : -1;
          break;
        default:
          after = state !== a && (obligation === NO_OBLIGATION || obligation === a) ? state : -1;
      }
      if (after !== -1) {
        linearized[op >>> 5]! ^= 1 << (op & 31);
        if (
          !visited.add(mix32((setHash ^ opHash[op]! ^ Math.imul(after, 0x27d4eb2d)) >>> 0), linearized, after)
        ) {
          linearized[op >>> 5]! ^= 1 << (op & 31);
          after = -1;
        } else if (visited.bytes > limits.maxCacheBytes) {
          return { kind: 'aborted', reason: `search memo exceeded ${limits.maxCacheBytes} bytes` };
        }
      }
      if (after === -1) {
        entry = list.next[entry]!;
        continue;
      }
      setHash ^= opHash[op]!;
      requiredLeft--;
      unlink(list, entry);
      unlink(list, list.returnOf[entry]!);
      stackEntry[depth] = entry;
    } else if (candidateIndex < candidates.length) {
      op = candidates[candidateIndex]!;
      after = step[op] === STEP_WRITE ? argA[op]! : argB[op]!;
      invariant(step[op] === STEP_WRITE || argA[op] === state, 'an unknown cas candidate does not apply');
      linearized[op >>> 5]! ^= 1 << (op & 31);
      nextInClass[classOf[op]!]!++;
      stackCandidates[depth] = candidates;
      stackCandidateIndex[depth] = candidateIndex;
    } else {
      if (depth === 0) {
        const longestPrefix = Array.from(bestOps.subarray(0, bestDepth), (i) => m.ops[i]!);
        return { kind: 'violation', longestPrefix, stateAfterPrefix: m.values[bestState]!, searched: m.ops };
      }
      depth--;
      if (bestValid > depth) bestValid = depth;
      const undone = stackOp[depth]!;
      state = stackState[depth]!;
      obligation = stackObligation[depth]!;
      linearized[undone >>> 5]! ^= 1 << (undone & 31);
      if (required[undone] === 1) {
        const call = stackEntry[depth]!;
        setHash ^= opHash[undone]!;
        requiredLeft++;
        relink(list, list.returnOf[call]!);
        relink(list, call);
        entry = list.next[call]!;
        candidates = null;
      } else {
        nextInClass[classOf[undone]!]!--;
        candidates = stackCandidates[depth]!;
        candidateIndex = stackCandidateIndex[depth]! + 1;
      }
      continue;
    }
    stackOp[depth] = op;
    stackState[depth] = state;
    stackObligation[depth] = obligation;
    depth++;
    obligation = required[op] === 1 ? NO_OBLIGATION : state;
    state = after;
    if (depth > bestDepth) {
      for (let d = bestValid; d < depth; d++) bestOps[d] = stackOp[d]!;
      bestDepth = depth;
      bestValid = depth;
      bestState = state;
    }
    entry = list.next[0]!;
    candidates = null;
  }
}
