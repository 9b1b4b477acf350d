// Linearizability checker for per-key registers (read / write / compare-and-swap): the WGL search
// (Wing & Gong, with Lowe's memoisation, as in Porcupine) run on each key's history on its own.
// A verdict of 'ok' or 'violation' is exact; when a bound (time, memory) is hit the verdict is 'unknown'.

import { invariant } from './errors.js';
import { formatOp, type RegisterOp, validateRegisterOp } from './history.js';
import { type SearchLimits, searchRegister, type Violation } from './search.js';

export type LinearizabilityResult =
  | { readonly verdict: 'ok'; readonly keys: number; readonly ops: number }
  | {
      readonly verdict: 'violation';
      readonly key: string;
      readonly ops: number;
      /** A small sub-history of that key that is still not linearizable (greedily minimised: drop ops one at a time while the rest stays non-linearizable, bounded effort). */
      readonly minimal: readonly RegisterOp[];
      /** The longest linearizable prefix order found, for the report. */
      readonly explanation: string;
    }
  | { readonly verdict: 'unknown'; readonly reason: string };

export interface CheckOptions {
  /** Limit on the whole check, minimisation included; past it the verdict is 'unknown'. Default 10_000. */
  readonly timeBudgetMs?: number;
  /** Clock in milliseconds; default `performance.now`. Tests inject a fake one. */
  readonly now?: () => number;
  /** Limit on the memo of visited search states of one key; past it the verdict is 'unknown'. Default 256 MiB. */
  readonly maxCacheBytes?: number;
  /** Limit on shrinking a violation (within timeBudgetMs); the shrink so far is reported. Default 2_000. */
  readonly minimiseBudgetMs?: number;
}

export const DEFAULT_TIME_BUDGET_MS = 10_000;
export const DEFAULT_MAX_CACHE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MINIMISE_BUDGET_MS = 2_000;
/** Candidate sub-histories tried while minimising, whatever the time left. */
const MAX_MINIMISE_CHECKS = 10_000;
/** Ops named in an explanation; the rest are counted, so a report stays one readable line. */
const EXPLANATION_MAX_OPS = 12;

/**
 * Checks that each key's history is linearizable for a register that starts at null.
 * 'fail' ops are dropped (they did not happen) and so are 'unknown' reads (they return nothing to
 * check); an 'unknown' write or cas may take effect at any point after its invocation, or never.
 * An op returning at the same time another is invoked counts as concurrent with it.
 * `ops` in the result counts the ops that took part (neither failed nor unknown reads); `keys`
 * counts every key in the input. Throws CheckerError INVALID_OP on a malformed op.
 */
export function checkRegisterHistory(
  ops: readonly RegisterOp[],
  options: CheckOptions = {},
): LinearizabilityResult {
  const now = options.now ?? (() => performance.now());
  const timeBudgetMs = options.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS;
  const deadline = now() + timeBudgetMs;
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  ops.forEach(validateRegisterOp);

  const byKey = new Map<string, RegisterOp[]>();
  let checkedOps = 0;
  for (const op of ops) {
    let keyOps = byKey.get(op.key);
    if (keyOps === undefined) {
      keyOps = [];
      byKey.set(op.key, keyOps);
    }
    if (op.outcome === 'fail' || (op.outcome === 'unknown' && op.kind === 'read')) continue;
    keyOps.push(op);
    checkedOps++;
  }

  const limits: SearchLimits = { now, deadline, maxCacheBytes };
  let abortReason: string | null = null;
  // Keys are independent registers (linearizability is compositional), so each is searched alone,
  // and a violation on one key is reported even if another key ran out of budget.
  for (const [key, keyOps] of byKey) {
    const outcome = refuteUnproducible(keyOps) ?? searchRegister(keyOps, limits);
    if (outcome.kind === 'aborted') {
      abortReason ??= `${outcome.reason} on key ${JSON.stringify(key)} (${keyOps.length} ops)`;
      continue;
    }
    if (outcome.kind === 'linearizable') continue;
    const minimiseBudgetMs = options.minimiseBudgetMs ?? DEFAULT_MINIMISE_BUDGET_MS;
    const minimiseDeadline = Math.min(deadline, now() + minimiseBudgetMs);
    const shrunk = minimise(keyOps, outcome, { now, deadline: minimiseDeadline, maxCacheBytes });
    return {
      verdict: 'violation',
      key,
      ops: keyOps.length,
      minimal: shrunk.ops,
      explanation: explain(shrunk.ops, shrunk.witness),
    };
  }
  if (abortReason !== null) return { verdict: 'unknown', reason: abortReason };
  return { verdict: 'ok', keys: byKey.size, ops: checkedOps };
}

/** The value an ok op needs the register to hold (a read's result, a swapped cas's expectation). */
function reliedValue(op: RegisterOp): string | null {
  if (op.outcome !== 'ok') return null;
  if (op.kind === 'read') return op.result ?? null;
  if (op.kind === 'cas' && op.casSwapped === true) return op.expect ?? null;
  return null;
}

/**
 * Values that ops in `ops` rely on but that no sequence of ops in `ops` can produce from the initial
 * null: a cas only produces its value from an expectation that is itself producible.
 */
function unproducibleValues(ops: readonly RegisterOp[]): Set<string> {
  const swapsFrom = new Map<string | null, (string | null)[]>();
  const producible = new Set<string | null>([null]);
  for (const op of ops) {
    if (op.kind === 'write') producible.add(op.value ?? null);
    if (op.kind !== 'cas' || (op.outcome === 'ok' && op.casSwapped !== true)) continue;
    const from = op.expect ?? null;
    const targets = swapsFrom.get(from) ?? [];
    targets.push(op.value ?? null);
    swapsFrom.set(from, targets);
  }
  const frontier = [...producible];
  for (let v = frontier.pop(); v !== undefined; v = frontier.pop()) {
    for (const target of swapsFrom.get(v) ?? []) {
      if (producible.has(target)) continue;
      producible.add(target);
      frontier.push(target);
    }
  }
  const unproducible = new Set<string>();
  for (const op of ops) {
    const relied = reliedValue(op);
    if (relied !== null && !producible.has(relied)) unproducible.add(relied);
  }
  return unproducible;
}

/** Drops ops that rely on a value the remaining ops cannot produce (unless `allowed`), until none do. */
function withoutOrphans(ops: readonly RegisterOp[], allowed: ReadonlySet<string>): readonly RegisterOp[] {
  let current = ops;
  for (;;) {
    const orphaned = unproducibleValues(current);
    for (const v of allowed) orphaned.delete(v);
    if (orphaned.size === 0) return current;
    current = current.filter((op) => {
      const relied = reliedValue(op);
      return relied === null || !orphaned.has(relied);
    });
  }
}

/**
 * The cheap refutation: an op relying on a value that no op of the key can produce (a read of a
 * value never written, or whose write failed) is a violation alone, found without a search that
 * could take exponential time to exhaust a long history before it.
 */
function refuteUnproducible(keyOps: readonly RegisterOp[]): Violation | null {
  const unproducible = unproducibleValues(keyOps);
  if (unproducible.size === 0) return null;
  const culprit = keyOps.find((op) => {
    const relied = reliedValue(op);
    return relied !== null && unproducible.has(relied);
  });
  invariant(culprit !== undefined, 'an unproducible value has no op relying on it');
  return { kind: 'violation', longestPrefix: [], stateAfterPrefix: null, searched: [culprit] };
}

interface Shrunk {
  readonly ops: readonly RegisterOp[];
  readonly witness: Violation;
}

/**
 * Greedy shrinking in the style of delta debugging: drop chunks of halving size, then single ops until
 * none can go, keeping each drop only if the rest is still a violation. Ops left relying on a value
 * the rest can no longer produce are dropped too (unless the input already had that anomaly):
 * otherwise nearly every violation would shrink to "read of a value never written" and hide the real
 * story. Any bound hit keeps the smallest violation confirmed so far, so the result is always a
 * checked non-linearizable history.
 */
function minimise(keyOps: readonly RegisterOp[], first: Violation, limits: SearchLimits): Shrunk {
  const anomaliesInInput = unproducibleValues(keyOps);
  // The search already pruned ops that cannot matter; start from what it searched.
  let current = first.searched;
  let witness = first;
  let checks = 0;
  const tryWithout = (from: number, count: number): boolean | null => {
    if (checks++ >= MAX_MINIMISE_CHECKS) return null;
    const candidate = withoutOrphans(
      [...current.slice(0, from), ...current.slice(from + count)],
      anomaliesInInput,
    );
    const outcome = searchRegister(candidate, limits);
    if (outcome.kind === 'aborted') return null;
    if (outcome.kind === 'linearizable') return false;
    current = candidate;
    witness = outcome;
    return true;
  };
  let chunk = current.length;
  for (;;) {
    chunk = Math.max(1, Math.ceil(chunk / 2));
    let changed = false;
    for (let from = 0; from < current.length; ) {
      const dropped = tryWithout(from, Math.min(chunk, current.length - from));
      if (dropped === null) return { ops: current, witness };
      if (dropped) changed = true;
      else from += chunk;
    }
    if (chunk === 1 && !changed) return { ops: current, witness };
  }
}

function listOps(ops: readonly RegisterOp[], fromEnd: boolean): string {
  if (ops.length <= EXPLANATION_MAX_OPS) return ops.map(formatOp).join('; ');
  const omitted = `... ${ops.length - EXPLANATION_MAX_OPS} more`;
  if (fromEnd) return [omitted, ...ops.slice(-EXPLANATION_MAX_OPS).map(formatOp)].join('; ');
  return [...ops.slice(0, EXPLANATION_MAX_OPS).map(formatOp), omitted].join('; ');
}

function explain(ops: readonly RegisterOp[], witness: Violation): string {
  const inPrefix = new Set(witness.longestPrefix);
  const rest = ops.filter((op) => !inPrefix.has(op));
  const prefix =
    witness.longestPrefix.length === 0
      ? 'no op can be linearized first'
      : `longest linearizable prefix (${witness.longestPrefix.length} of ${ops.length} ops): ${listOps(witness.longestPrefix, true)}`;
  return `${prefix}; the register then holds ${JSON.stringify(witness.stateAfterPrefix)} and none of the remaining ops can take effect next: ${listOps(rest, false)}`;
}
