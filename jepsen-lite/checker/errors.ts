// The checker's error catalogue: a malformed history is the caller's bug and is thrown, never
// reported as a verdict, so a broken recorder cannot pass for a broken store. Branch on `code`.

export type CheckerErrorCode = 'INVALID_OP' | 'INVARIANT';

const MESSAGES: Record<CheckerErrorCode, string> = {
  INVALID_OP: 'checker: malformed history operation',
  INVARIANT: 'checker: invariant violated',
};

export class CheckerError extends Error {
  readonly code: CheckerErrorCode;
  constructor(code: CheckerErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.code = code;
    this.name = 'CheckerError';
  }
}

export function isCheckerError(err: unknown, code: CheckerErrorCode): boolean {
  return err instanceof CheckerError && err.code === code;
}

/** Throws when the condition is false; invariants hold for every well-formed input. */
export function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new CheckerError('INVARIANT', what);
}
