// A client-observed history of per-key register operations, the input of the linearizability
// checker. Every key starts as null; an op's outcome says how much the client knows about whether
// it took effect, and validation rejects ops whose fields contradict their kind and outcome.

import { CheckerError } from './errors.js';

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface RegisterOp {
  /** Client id; a client has at most one op in flight. */
  readonly process: number;
  readonly key: string;
  readonly kind: 'read' | 'write' | 'cas';
  /** Time of the request, in any unit shared by the whole history; monotone per process. */
  readonly invokeTime: number;
  /** Time of the response; ignored (treated as +infinity) when the outcome is 'unknown'. */
  readonly completeTime: number;
  /** ok: happened with the given result; fail: certainly did not happen; unknown: may or may not have happened. */
  readonly outcome: Outcome;
  /** write: the value written; cas: the new value. */
  readonly value?: string | null;
  /** cas: the value the register must hold for the swap to happen. */
  readonly expect?: string | null;
  /** read with outcome ok: the value read. */
  readonly result?: string | null;
  /** cas with outcome ok: whether the compare matched and the swap happened. */
  readonly casSwapped?: boolean;
}

/**
 * Throws CheckerError INVALID_OP when `op` is not a well-formed history entry. Fields the outcome
 * makes irrelevant (a failed read's result, an unknown op's completeTime) are not inspected.
 */
export function validateRegisterOp(op: RegisterOp, index: number): void {
  const bad = (why: string): never => {
    throw new CheckerError('INVALID_OP', `op #${index} (${formatOp(op)}): ${why}`);
  };
  if (!Number.isFinite(op.invokeTime)) bad('invokeTime must be a finite number');
  if (op.outcome === 'ok') {
    if (!Number.isFinite(op.completeTime)) bad('completeTime must be a finite number');
    if (op.completeTime < op.invokeTime) bad('completeTime is before invokeTime');
  }
  switch (op.kind) {
    case 'read':
      if (op.outcome === 'ok' && op.result === undefined) bad('an ok read needs a result');
      return;
    case 'write':
      if (op.value === undefined) bad('a write needs a value');
      return;
    case 'cas':
      if (op.value === undefined || op.expect === undefined) bad('a cas needs value and expect');
      if (op.outcome === 'ok' && typeof op.casSwapped !== 'boolean') bad('an ok cas needs casSwapped');
      return;
    default:
      bad(`unknown kind ${JSON.stringify(op.kind as unknown)}`);
  }
}

function show(value: string | null | undefined): string {
  return value === undefined ? '?' : JSON.stringify(value);
}

/** One op on one line for reports, e.g. `p2 cas "a"->"b" swapped [3, 9]`. */
export function formatOp(op: RegisterOp): string {
  let what: string;
  switch (op.kind) {
    case 'read':
      what = op.outcome === 'ok' ? `read -> ${show(op.result)}` : 'read';
      break;
    case 'write':
      what = `write ${show(op.value)}`;
      break;
    case 'cas': {
      const swapped = op.outcome !== 'ok' ? '' : op.casSwapped === true ? ' swapped' : ' not swapped';
      what = `cas ${show(op.expect)}->${show(op.value)}${swapped}`;
      break;
    }
    default:
      what = String(op.kind as unknown);
  }
  const end = op.outcome === 'unknown' ? 'inf' : String(op.completeTime);
  const outcome = op.outcome === 'ok' ? '' : ` (${op.outcome})`;
  return `p${op.process} ${what} [${op.invokeTime}, ${end}]${outcome}`;
}
